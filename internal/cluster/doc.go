// Package cluster moves the two expensive parts of a self-play step, sampling
// (rl.Policy.Generate) and program execution (rl.Executor), to worker
// processes on other hosts, over NATS JetStream.
//
// The trainer keeps the model's state: it trains the adapter, publishes each
// new version to a JetStream object store, and turns every Generate group and
// every executor call into a work-queue message. Workers pull messages
// (explicit acknowledgement; an unacknowledged message is redelivered to
// another worker after the ack wait), do the work exactly as the
// single-process path does, and publish the result under the request's id;
// the trainer takes the first valid result of each id and ignores the rest,
// so a duplicate from a redelivery is harmless. docs/CLUSTER.md describes the
// design, the commands and the measurements.
package cluster
