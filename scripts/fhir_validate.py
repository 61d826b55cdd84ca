"""Parse every FHIR resource in the given JSON files with fhir.resources (R4B models).

A Bundle is parsed as a whole and each entry's resource is parsed again on its own, so a
failure names the resource. Prints one line per resource and a closing summary line.
"""
import json
import sys

from fhir.resources.R4B import get_fhir_model_class


def parse(resource, where, failures, count):
    rtype = resource.get("resourceType")
    try:
        cls = get_fhir_model_class(rtype)
        cls.model_validate(resource) if hasattr(cls, "model_validate") else cls.parse_obj(resource)
        count[0] += 1
    except Exception as e:  # noqa: BLE001 - report every failure, whatever its kind
        failures.append(f"{where}: {rtype}/{resource.get('id')}: {e}")


def main(paths):
    failures, count = [], [0]
    for path in paths:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        parse(doc, path, failures, count)
        if doc.get("resourceType") == "Bundle":
            for i, entry in enumerate(doc.get("entry", [])):
                if "resource" in entry:
                    parse(entry["resource"], f"{path} entry[{i}]", failures, count)
    for line in failures:
        print("INVALID", line)
    print(f"fhir.resources: {count[0]} parsed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
