#!/usr/bin/env python3
"""JSON helpers of scripts/gpu-check.sh (the GPU machine has python3 but no jq).

    gpu-check-json.py tag PHASE JSON          the object with "phase" first, on one line
    gpu-check-json.py kv PHASE K=V...         a flat object of strings, tagged
    gpu-check-json.py oneline FILE            FILE's JSON document on one line
    gpu-check-json.py gen LABEL SIZE BW_DATASHEET BW_MEASURED JSON
                                              a bench gen report with its decode bound
    gpu-check-json.py train NAME PEAK_MIB BASE_MIB JSON
                                              a bench train report with peak VRAM
    gpu-check-json.py has-gpu JSON            exit 0 when `devices --json` lists a GPU
    gpu-check-json.py summary KIND ARG        one line for the summary table
                                              (KIND: devices JSON, check FILE, gen RESULTS,
                                              train RESULTS, step JSON)
Written for Python 3.8 and later.
"""
import json
import sys


def tag(phase, obj):
    out = {"phase": phase}
    out.update(obj)
    return json.dumps(out)


def gen(label, size, bw_datasheet, bw_measured, report):
    size = int(size)
    o = {"case": label, "model_file_bytes": size, "report": report}
    # Batch-1 decode reads every weight once per token: bandwidth / bytes bounds it.
    o["decode_bound_tok_s_datasheet_bw"] = float(bw_datasheet) / size
    o["decode_bound_tok_s_measured_bw"] = float(bw_measured) / size
    b = report["batch"]
    o["decode_tok_s"] = b["ours_tokens_per_s"]
    o["sequences"] = b["sequences"]
    p = report["prefix_sharing"]
    if p["new_tokens"] <= 1 and p["shared_s"] > 0:
        # One long prompt and a single new token: the time includes that token,
        # so this is a lower bound on prompt throughput.
        o["prompt_tok_s_lower_bound"] = p["prompt_tokens"] / p["shared_s"]
    return o


def train(name, peak, base, report):
    o = {"model": name, "report": report}
    if peak:
        o["vram_peak_mib"] = int(peak)
        o["vram_before_mib"] = int(base)
        o["vram_peak_gb"] = int(peak) * 1048576 / 1e9
        o["vram_goal_gb"] = 22
    return o


def results(path, phase):
    for line in open(path):
        try:
            o = json.loads(line)
        except ValueError:
            continue
        if o.get("phase") == phase:
            yield o


def summary(kind, arg):
    if kind == "devices":
        d = json.loads(arg)
        s = "; ".join("%s %s: %s" % (x["name"], x["description"], x.get("check", "")) for x in d["devices"])
        if d.get("warnings"):
            s += " WARN " + " | ".join(d["warnings"])
        return s
    if kind == "check":
        ok = fail = skip = 0
        bad, dev = [], ""
        for line in open(arg):
            try:
                o = json.loads(line)
            except ValueError:
                continue
            if "device" in o:
                dev = "%s %s" % (o["device"], o.get("gpu_devices", ""))
            if "check" in o:
                if o.get("skipped"):
                    skip += 1
                elif o.get("ok"):
                    ok += 1
                else:
                    fail += 1
                    bad.append(o["check"])
        s = "%s: %d ok, %d failed, %d skipped" % (dev.strip(), ok, fail, skip)
        return s + (" FAILED: " + "; ".join(bad) if bad else "")
    if kind == "gen":
        parts = []
        for o in results(arg, "gen"):
            if "report" not in o:
                continue
            if "prompt_tok_s_lower_bound" in o:
                parts.append("%s: >= %.0f prompt tok/s" % (o["case"], o["prompt_tok_s_lower_bound"]))
            else:
                parts.append("%s: %.0f tok/s (batch-1 bound %.0f)" % (o["case"], o["decode_tok_s"], o["decode_bound_tok_s_measured_bw"]))
        return "; ".join(parts)
    if kind == "train":
        parts = []
        for o in results(arg, "train"):
            if "report" in o:
                r = o["report"]
                s = "%s: %.0f train tok/s, step/forward %.2f" % (o["model"], r.get("step_tokens_per_sec", 0), r.get("step_over_forward", 0))
                if "vram_peak_gb" in o:
                    s += ", peak VRAM %.1f GB (goal <= 22)" % o["vram_peak_gb"]
                parts.append(s)
            elif "blocked" in o:
                parts.append("%s: %s" % (o["model"], o["blocked"]))
        return "; ".join(parts)
    if kind == "step":
        r = json.loads(arg)
        st = r["steps"][0]
        pct = ", ".join("%s %.0f%%" % kv for kv in sorted(st.get("percent", {}).items()))
        return "%s: step %.1fs = %s" % (r.get("backend", ""), st["total_s"], pct)
    raise SystemExit("unknown summary kind " + kind)


def main(argv):
    cmd = argv[1]
    if cmd == "tag":
        print(tag(argv[2], json.loads(argv[3])))
    elif cmd == "kv":
        print(tag(argv[2], dict(a.split("=", 1) for a in argv[3:])))
    elif cmd == "oneline":
        with open(argv[2]) as f:
            print(json.dumps(json.load(f)))
    elif cmd == "gen":
        print(json.dumps(gen(argv[2], argv[3], argv[4], argv[5], json.loads(argv[6]))))
    elif cmd == "train":
        print(json.dumps(train(argv[2], argv[3], argv[4], json.loads(argv[5]))))
    elif cmd == "has-gpu":
        d = json.loads(argv[2])
        sys.exit(0 if any(x["type"] == "gpu" for x in d["devices"]) else 1)
    elif cmd == "summary":
        print(summary(argv[2], argv[3]))
    else:
        raise SystemExit("unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
