/*
 * azr_train.h — the training half of the C ABI (LoRA adapters, the
 * policy-gradient step). Included by azr.h; same rules as azr.h.
 */
#ifndef AZR_NATIVE_TRAIN_H
#define AZR_NATIVE_TRAIN_H

#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
