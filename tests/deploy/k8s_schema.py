"""An offline schema check of Kubernetes objects against the API types of
Debian's python3-kubernetes (the client generated from Kubernetes 1.22's
OpenAPI document): every field must exist in its type (no typos, nothing
misplaced), every value must have the field's type, every required field
must be there, and each (apiVersion, kind) must be one the API serves.

Debian 12 ships neither a newer client nor the OpenAPI document itself, so
two later API additions the manifests use are declared here, from the
Kubernetes API reference:
  - Probe.grpc (GRPCAction: port int, required; service string), v1.24+;
  - autoscaling/v2 HorizontalPodAutoscaler (v1.23+): the same schema as
    autoscaling/v2beta2, which the client has.
Quantities are strings in these types: the manifests quote them."""
import functools
import inspect
import re

import kubernetes.client.api as k8s_api
import kubernetes.client.models as k8s_models

# Later API versions checked against the schema of an earlier one (see above).
VERSION_ALIASES = {"autoscaling/v2": "autoscaling/v2beta2"}
# Fields added after Kubernetes 1.22: type -> {json field: (python type string, required)}.
EXTRA_FIELDS = {"V1Probe": {"grpc": "GRPCAction"}}
EXTRA_TYPES = {"GRPCAction": {"port": ("int", True), "service": ("str", False)}}


@functools.lru_cache(maxsize=None)
def served_kinds():
    """{(apiVersion, kind)} the client's API classes create, from their REST paths."""
    served = set()
    for name, cls in inspect.getmembers(k8s_api, inspect.isclass):
        if not name.endswith("Api"):
            continue
        for method, fn in inspect.getmembers(cls, inspect.isfunction):
            m = re.fullmatch(r"create_(?:namespaced_)?(\w+)_with_http_info", method)
            if not m:
                continue
            paths = re.findall(r"'/(api/v1|apis/[^/]+/[^/]+)/", inspect.getsource(fn))
            if not paths:
                continue
            group_version = paths[0][len("api/"):] if paths[0].startswith("api/") else paths[0][len("apis/"):]
            kind = "".join(part.capitalize() for part in m.group(1).split("_"))
            served.add((group_version, kind))
    return served


def model_class_name(api_version, kind):
    version = api_version.rsplit("/", 1)[-1]
    return version[0].upper() + version[1:] + kind


@functools.lru_cache(maxsize=None)
def fields_of(type_name):
    """{json field: (type string, required)} of a client model or an extra type."""
    if type_name in EXTRA_TYPES:
        return dict(EXTRA_TYPES[type_name])
    cls = getattr(k8s_models, type_name, None)
    if cls is None:
        raise KeyError(f"unknown API type {type_name}")
    fields = {}
    for attr, type_string in cls.openapi_types.items():
        setter = getattr(cls, attr).fset
        required = "must not be `None`" in inspect.getsource(setter)
        fields[cls.attribute_map[attr]] = (type_string, required)
    for json_name, extra in EXTRA_FIELDS.get(type_name, {}).items():
        fields[json_name] = (extra, False)
    return fields


def _check(value, type_string, path, errors):
    if type_string == "object":
        return  # int-or-string, raw extensions
    m = re.fullmatch(r"list\[(.+)\]", type_string)
    if m:
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list, got {type(value).__name__}")
            return
        for i, item in enumerate(value):
            _check(item, m.group(1), f"{path}[{i}]", errors)
        return
    m = re.fullmatch(r"dict\(str, (.+)\)", type_string)
    if m:
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a map, got {type(value).__name__}")
            return
        for k, v in value.items():
            if not isinstance(k, str):
                errors.append(f"{path}: key {k!r} is not a string")
            _check(v, m.group(1), f"{path}.{k}", errors)
        return
    scalar = {"str": str, "datetime": str, "date": str, "int": int, "float": (int, float), "bool": bool}
    if type_string in scalar:
        ok = isinstance(value, scalar[type_string])
        if type_string in ("int", "float") and isinstance(value, bool):
            ok = False
        if not ok:
            errors.append(f"{path}: expected {type_string}, got {type(value).__name__} {value!r}")
        return
    if not isinstance(value, dict):
        errors.append(f"{path}: expected an object ({type_string}), got {type(value).__name__}")
        return
    fields = fields_of(type_string)
    for key, item in value.items():
        if key not in fields:
            errors.append(f"{path}.{key}: no such field in {type_string}")
            continue
        if item is None:
            continue
        _check(item, fields[key][0], f"{path}.{key}", errors)
    for key, (_, required) in fields.items():
        if required and value.get(key) is None:
            errors.append(f"{path}.{key}: required by {type_string}")


def validate(obj):
    """The problems of one object (empty: valid)."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    name = (obj.get("metadata") or {}).get("name", "?")
    where = f"{kind}/{name}"
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return [f"{where}: apiVersion and kind must be strings"]
    schema_version = VERSION_ALIASES.get(api_version, api_version)
    if (schema_version, kind) not in served_kinds():
        return [f"{where}: the API serves no {kind} in {api_version}"]
    errors = []
    _check(obj, model_class_name(schema_version, kind), where, errors)
    if not name or name == "?":
        errors.append(f"{where}: metadata.name missing")
    return errors
