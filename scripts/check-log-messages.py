#!/usr/bin/env python3
"""Checks that every COHORT_LOG_* message follows base/logging.h's convention: a sentence, then
only key=value pairs. `--log_format=json` turns the pairs into fields (base/log_format.h); text
after the first pair would be folded into the last value, so it is refused here.

    python3 scripts/check-log-messages.py [ROOT] [--self-test]
"""
import pathlib
import re
import sys

CALL = re.compile(r'COHORT_LOG_[A-Z]+\(\s*((?:"(?:[^"\\]|\\.)*"\s*)+)')
LITERAL = re.compile(r'"((?:[^"\\]|\\.)*)"')
KEY = re.compile(r'(^| )[A-Za-z_][A-Za-z0-9_.]*=')


def problem(message):
    """Why `message` breaks the convention, or None."""
    first = KEY.search(message)
    if not first:
        return None
    loose = [word for word in message[first.start():].split() if '=' not in word]
    return f"words after the first key=value: {' '.join(loose)}" if loose else None


def scan(root):
    problems = []
    for path in sorted(pathlib.Path(root).rglob('*.cc')):
        relative = path.relative_to(root)
        if relative.parts[0].startswith('build'):
            continue
        text = path.read_text(encoding='utf-8')
        for call in CALL.finditer(text):
            message = ''.join(LITERAL.findall(call.group(1)))
            why = problem(message)
            if why:
                line = text.count('\n', 0, call.start()) + 1
                problems.append(f'{relative}:{line}: {message!r}: {why}')
    return problems


def self_test():
    assert problem('round committed task={} round={}') is None
    assert problem('stopped') is None
    assert problem('status={} of the round') is not None
    assert problem('round phase task={} {}') is not None
    return 0


def main(argv):
    root = pathlib.Path(argv[1] if len(argv) > 1 and not argv[1].startswith('-') else '.')
    if '--self-test' in argv:
        self_test()
    problems = scan(root)
    for p in problems:
        print(p)
    if problems:
        print(f'{len(problems)} log message(s) break the sentence-then-key=value convention')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
