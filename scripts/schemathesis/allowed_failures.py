"""Check a schemathesis JUnit report against a list of allowed failures.

Usage: allowed_failures.py REPORT.xml RULES.txt

Each rule line: CHECKS STATUS METHOD PATH DETAIL | WHY, where CHECKS is a comma list of
schemathesis codes (ST103, ...), STATUS the response status, METHOD and PATH regular
expressions on the failing request, and DETAIL one on the failure's text. A failure is
allowed when a rule matches all four; the script lists every failure no rule explains and
exits 1 if there is one, or if the report holds errors.
"""

import re
import sys
import xml.etree.ElementTree as ET


def rules(path):
    out = []
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        spec, _, why = line.partition(" | ")
        checks, status, method, path, detail = spec.split(None, 4)
        request = re.compile(f"^(?:{method}) (?:{path.removeprefix('^')})")
        out.append((set(checks.split(",")), status, request, re.compile(detail.strip()), why.strip()))
    return out


def failures(report):
    root = ET.parse(report).getroot()
    for case in root.iter("testcase"):
        for item in case:
            if item.tag == "error":
                yield case.get("name"), "error", "", "", item.text or item.get("message", "")
            if item.tag != "failure":
                continue
            text = item.text or ""
            codes = re.findall(r"^- (ST\d+)", text, re.M) or [item.get("message", "?").split()[0]]
            received = re.search(r"Received: (\d{3})", text) or re.search(r"\[(\d{3})\]", text)
            curls = re.findall(r"curl -X (\w+) [^\n]*?'?https?://[^/\s]+(/[^?'\s]*)", text)
            request = f"{curls[-1][0]} {curls[-1][1]}" if curls else case.get("name", "")
            for code in codes:
                yield case.get("name"), code, received.group(1) if received else "", request, text


def main(report, rules_path):
    allowed, unexplained = {}, []
    table = rules(rules_path)
    for name, code, status, request, text in failures(report):
        rule = next(
            (r for r in table if code in r[0] and status == r[1] and r[2].search(request) and r[3].search(text)),
            None,
        )
        if rule is None:
            unexplained.append((name, code, status, request, text))
        else:
            allowed[rule[4]] = allowed.get(rule[4], 0) + 1
    for why, n in sorted(allowed.items()):
        print(f"  allowed x{n}: {why}")
    for name, code, status, request, text in unexplained:
        print(f"UNEXPLAINED {code} {status} {request} ({name})")
        print("    " + text.strip().replace("\n", "\n    ")[:1500])
    if unexplained:
        print(f"{len(unexplained)} failure(s) against the original's document are not documented differences")
        return 1
    print("every failure against the original's document is a documented difference")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
