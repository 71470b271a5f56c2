#!/usr/bin/env python3
"""Turn the file exporter's output of config/examples/tcpflow-trace.yaml
(OTLP/JSON, one batch per line) into a table, one row per tcp.probe.sample:

    time_s  cookie  local  peer  snd_cwnd  ssthresh  srtt_ms  snd_nxt  snd_una

time_s counts from the first sample in the file. Usage:
    tcpflow-trace-table.py tcpflow-trace.jsonl > trace.tsv
"""
import json
import sys


def attrs(record):
    out = {}
    for kv in record.get("attributes", []):
        v = kv["value"]
        out[kv["key"]] = int(v["intValue"]) if "intValue" in v else v.get("stringValue")
    return out


def rows(lines):
    for line in lines:
        if not line.strip():
            continue
        for rl in json.loads(line).get("resourceLogs", []):
            for sl in rl.get("scopeLogs", []):
                for r in sl.get("logRecords", []):
                    if r.get("eventName") == "tcp.probe.sample":
                        yield int(r["timeUnixNano"]), attrs(r)


def main(path):
    with open(path) as f:
        samples = sorted(rows(f), key=lambda s: s[0])
    print("time_s\tcookie\tlocal\tpeer\tsnd_cwnd\tssthresh\tsrtt_ms\tsnd_nxt\tsnd_una")
    if not samples:
        return
    t0 = samples[0][0]
    for t, a in samples:
        print("%.6f\t%d\t%s:%d\t%s:%d\t%d\t%d\t%.3f\t%d\t%d" % (
            (t - t0) / 1e9, a["tcp.sock_cookie"],
            a["network.local.address"], a["network.local.port"],
            a["network.peer.address"], a["network.peer.port"],
            a["tcp.snd_cwnd"], a["tcp.ssthresh"], a["tcp.srtt_us"] / 1000.0,
            a["tcp.snd_nxt"], a["tcp.snd_una"]))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: tcpflow-trace-table.py FILE")
    main(sys.argv[1])
