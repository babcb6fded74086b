#!/usr/bin/env python3
"""Parses OpenMetrics text (what `tickbench --metrics-addr` serves) with the Prometheus project's
own parser, prometheus_client, and prints each sample as a JSON line:
{"name": ..., "labels": {...}, "value": ..., "type": ...}. Fails on text the parser refuses.

usage: parse-metrics.py FILE
"""
import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families


def main():
    text = open(sys.argv[1]).read()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            print(json.dumps({"name": s.name, "labels": s.labels, "value": s.value, "type": family.type}))


if __name__ == "__main__":
    main()
