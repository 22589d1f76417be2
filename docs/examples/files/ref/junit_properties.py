"""Print the taskbench properties of a JUnit XML file: the run's, then the first case's."""

import sys
import xml.etree.ElementTree as ET

tree = ET.parse(sys.argv[1])
suite = tree.find(".//testsuite")
case = tree.find(".//testcase")
for title, element in (("<testsuite>", suite), (f"<testcase name={case.get('name')!r}>", case)):
    print(title)
    for prop in element.find("properties"):
        print(f"  {prop.get('name')} = {prop.get('value')}".rstrip())
