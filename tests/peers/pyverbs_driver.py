#!/usr/bin/env python3
"""Run rdma-core's pyverbs tests and print one RESULT line per test id.

unittest -v prints a docstring instead of the test's name when it has one,
so we report from a result class instead of parsing its text.
Usage: pyverbs_driver.py TESTS_DIR DEV GID [-k PATTERN] [--skip ID=WHY]... MODULE...
"""
import os
import sys
import unittest
from importlib.machinery import SourceFileLoader


def main():
    tests_dir, dev, gid = sys.argv[1:4]
    rest = sys.argv[4:]
    patterns, skips = [], {}
    while rest and rest[0] in ("-k", "--skip"):
        if rest[0] == "-k":
            patterns.append(f"*{rest[1]}*")
        else:
            test_id, why = rest[1].split("=", 1)
            skips[test_id] = why
        rest = rest[2:]
    sys.path.insert(0, tests_dir)
    os.chdir(tests_dir)
    sys.argv = [sys.argv[0], "--dev", dev, "--gid", gid]
    from args_parser import parser
    parser.parse_args()
    tests = SourceFileLoader("tests", os.path.join(tests_dir, "__init__.py")).load_module()
    loader = unittest.TestLoader()
    if patterns:
        loader.testNamePatterns = patterns
    suite = unittest.TestSuite()
    for mod in rest:
        suite.addTests(loader.loadTestsFromModule(getattr(tests, mod)))

    def skip_listed(suite):
        for t in suite:
            if isinstance(t, unittest.TestSuite):
                skip_listed(t)
                continue
            why = skips.get(t.id().replace("tests.", "", 1))
            if why:
                setattr(t, t._testMethodName, unittest.skip(why)(getattr(t, t._testMethodName)))
    skip_listed(suite)

    out = sys.stdout

    class Result(unittest.TextTestResult):
        def emit(self, test, status, why=""):
            name = "pyverbs/" + test.id().replace("tests.", "", 1)
            out.write(f"RESULT {name.replace(' ', '_')} {status}{' ' + why if why else ''}\n")
            out.flush()

        def addSuccess(self, test):
            super().addSuccess(test)
            self.emit(test, "PASS")

        def addFailure(self, test, err):
            super().addFailure(test, err)
            self.emit(test, "FAIL", "assertion failed")

        def addError(self, test, err):
            super().addError(test, err)
            self.emit(test, "FAIL", f"error: {err[0].__name__}: {str(err[1])[:120]}".replace("\n", " "))

        def addSkip(self, test, reason):
            super().addSkip(test, reason)
            self.emit(test, "SKIP", reason.replace("\n", " "))

        def addExpectedFailure(self, test, err):
            super().addExpectedFailure(test, err)
            self.emit(test, "PASS", "expected failure")

        def addUnexpectedSuccess(self, test):
            super().addUnexpectedSuccess(test)
            self.emit(test, "FAIL", "unexpected success")

    runner = unittest.TextTestRunner(stream=sys.stderr, verbosity=1, resultclass=Result)
    res = runner.run(suite)
    if res.testsRun == 0:
        out.write("RESULT pyverbs/run FAIL no test ran\n")
    return 0 if res.wasSuccessful() and res.testsRun else 1


if __name__ == "__main__":
    sys.exit(main())
