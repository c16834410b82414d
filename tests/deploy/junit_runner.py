"""Runs a unittest module and writes its cases to Bazel's JUnit XML file.

Bazel writes a one-case test.xml for a test that writes none; tools/test
counts cases from that file, so each case is reported here instead.
"""
import os
import sys
import time
import unittest
import xml.etree.ElementTree as ET


class _Result(unittest.TextTestResult):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.cases = []  # (test, outcome, detail, seconds)
        self._started = 0.0

    def startTest(self, test):
        self._started = time.monotonic()
        super().startTest(test)

    def _record(self, test, outcome, detail=""):
        self.cases.append((test, outcome, detail, time.monotonic() - self._started))

    def addSuccess(self, test):
        super().addSuccess(test)
        self._record(test, "passed")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._record(test, "failure", self._exc_info_to_string(err, test))

    def addError(self, test, err):
        super().addError(test, err)
        self._record(test, "error", self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._record(test, "skipped", reason)


def main(suite_name):
    """Runs the tests of module __main__; exits 0 when every case passed."""
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules["__main__"])
    result = unittest.TextTestRunner(resultclass=_Result, verbosity=2, stream=sys.stderr).run(suite)
    path = os.environ.get("XML_OUTPUT_FILE")
    if path:
        suites = ET.Element("testsuites")
        element = ET.SubElement(suites, "testsuite", name=suite_name, tests=str(len(result.cases)),
                                failures=str(len(result.failures)), errors=str(len(result.errors)))
        for test, outcome, detail, seconds in result.cases:
            case = ET.SubElement(element, "testcase", classname=suite_name,
                                 name=test.id().rsplit(".", 1)[-1], time="%.3f" % seconds)
            if outcome != "passed":
                ET.SubElement(case, outcome, message=detail.strip().splitlines()[-1] if detail else "").text = detail
        ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)
    sys.exit(0 if result.wasSuccessful() and result.testsRun > 0 else 1)
