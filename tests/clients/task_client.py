#!/usr/bin/python3
"""A TaskService client in Python: grpcio (python3-grpcio) with stubs that
protoc generated from proto/tasker/v1 (--python_out, and --grpc_python_out
from grpc_python_plugin).

  PYTHONPATH=GENERATED task_client.py 127.0.0.1:PORT [MODULE]

MODULE is the generated stubs' package (default "tasker.v1", the package of
files generated with `protoc -I proto`). Against a secured deployment:
TASKER_TOKEN (sent as "authorization: Bearer <token>" on every call) and TLS
from TASKER_TLS_CA, with TASKER_TLS_CERT and TASKER_TLS_KEY where client
certificates are required.
Prints one JSON line: {"version":..., "events":[statuses...], "result":..., "notFoundCode":...}.
"""
import importlib
import json
import os
import sys

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, text_format
from google.protobuf import any_pb2  # noqa: F401 (google/protobuf/any.proto in the default pool)

try:
    from google.protobuf import message_factory
    _get_class = getattr(message_factory, "GetMessageClass", None) or message_factory.MessageFactory().GetPrototype
except ImportError:  # pragma: no cover
    _get_class = None

# google.rpc.Status and the details Tasker sends, for decoding the
# grpc-status-details-bin trailer without googleapis-common-protos (Debian 12
# has no python3 package of it). Field numbers as in googleapis' google/rpc.
_RPC_PROTO = """
name: "tasker_client/google_rpc.proto" package: "google.rpc" dependency: "google/protobuf/any.proto"
message_type { name: "Status"
  field { name: "code" number: 1 label: LABEL_OPTIONAL type: TYPE_INT32 json_name: "code" }
  field { name: "message" number: 2 label: LABEL_OPTIONAL type: TYPE_STRING json_name: "message" }
  field { name: "details" number: 3 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: ".google.protobuf.Any"
          json_name: "details" } }
message_type { name: "ErrorInfo"
  field { name: "reason" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING json_name: "reason" }
  field { name: "domain" number: 2 label: LABEL_OPTIONAL type: TYPE_STRING json_name: "domain" }
  field { name: "metadata" number: 3 label: LABEL_REPEATED type: TYPE_MESSAGE
          type_name: ".google.rpc.ErrorInfo.MetadataEntry" json_name: "metadata" }
  nested_type { name: "MetadataEntry" options { map_entry: true }
    field { name: "key" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING json_name: "key" }
    field { name: "value" number: 2 label: LABEL_OPTIONAL type: TYPE_STRING json_name: "value" } } }
message_type { name: "BadRequest"
  field { name: "field_violations" number: 1 label: LABEL_REPEATED type: TYPE_MESSAGE
          type_name: ".google.rpc.BadRequest.FieldViolation" json_name: "fieldViolations" }
  nested_type { name: "FieldViolation"
    field { name: "field" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING json_name: "field" }
    field { name: "description" number: 2 label: LABEL_OPTIONAL type: TYPE_STRING json_name: "description" } } }
syntax: "proto3"
"""


def _rpc_messages():
    pool = descriptor_pool.Default()
    try:
        pool.FindMessageTypeByName("google.rpc.Status")
    except KeyError:
        pool.Add(text_format.Parse(_RPC_PROTO, descriptor_pb2.FileDescriptorProto()))
    return {name: _get_class(pool.FindMessageTypeByName("google.rpc." + name))
            for name in ("Status", "ErrorInfo", "BadRequest")}


def status_details(error):
    """The google.rpc.Status details of a failed call, as JSON-able dicts (none when the server sent none)."""
    raw = dict(error.trailing_metadata() or ()).get("grpc-status-details-bin")
    if not raw:
        return []
    messages = _rpc_messages()
    status = messages["Status"].FromString(raw)
    details = []
    for detail in status.details:
        name = detail.type_url.rsplit("/", 1)[-1]
        short = name[len("google.rpc."):] if name.startswith("google.rpc.") else None
        if short in messages:
            decoded = messages[short].FromString(detail.value)
            details.append({"@type": name, **json_format.MessageToDict(decoded)})
        else:
            details.append({"@type": name})
    return details


class _Token(grpc.AuthMetadataPlugin):
    def __init__(self, token):
        self._token = token

    def __call__(self, context, callback):
        callback((("authorization", "Bearer " + self._token),), None)


def channel(target):
    env = os.environ
    if not env.get("TASKER_TLS_CA"):
        return grpc.insecure_channel(target)
    read = lambda name: open(env[name], "rb").read() if env.get(name) else None  # noqa: E731
    credentials = grpc.ssl_channel_credentials(read("TASKER_TLS_CA"), read("TASKER_TLS_KEY"), read("TASKER_TLS_CERT"))
    if env.get("TASKER_TOKEN"):
        credentials = grpc.composite_channel_credentials(
            credentials, grpc.metadata_call_credentials(_Token(env["TASKER_TOKEN"])))
    return grpc.secure_channel(target, credentials)


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: task_client.py HOST:PORT [MODULE]")
    target = sys.argv[1]
    module = sys.argv[2] if len(sys.argv) == 3 else "tasker.v1"
    pb = importlib.import_module(module + ".task_service_pb2")
    pb_grpc = importlib.import_module(module + ".task_service_pb2_grpc")
    # Request types looked up by full name (whichever generated module defines them).
    request = lambda type_name, **fields: _get_class(  # noqa: E731
        pb.DESCRIPTOR.pool.FindMessageTypeByName("tasker.v1." + type_name))(**fields)
    common = pb.DESCRIPTOR.pool.FindEnumTypeByName("tasker.v1.RunStatus")

    with channel(target) as ch:
        client = pb_grpc.TaskServiceStub(ch)
        fn = client.PublishTask(request(
            "PublishTaskRequest", identifier="from-python",
            code="const r = await __callHostTool__('admin-debug', 'echo', {lang: input.lang});"
                 " return {hello: r.lang, z: 1, a: -0.5e1};",
            metadata_json=json.dumps({"permissions": ["admin-debug:echo"]})), timeout=20)
        submitted = client.SubmitRun(request(
            "SubmitRunRequest", task_identifier="from-python", input_json=json.dumps({"lang": "python"})), timeout=20)
        events, last = [], None
        for event in client.WatchRun(request("WatchRunRequest", name=submitted.run.id), timeout=120):
            events.append(common.values_by_number[event.run.status].name)
            last = event
        if last is None:
            sys.exit("WatchRun: no event before the end of the stream")
        try:
            client.GetRun(request("GetRunRequest", name="run_nope"), timeout=20)
            sys.exit("GetRun of an unknown run succeeded")
        except grpc.RpcError as error:
            not_found = {"code": error.code().value[0], "name": error.code().name, "message": error.details(),
                         "details": status_details(error)}
    print(json.dumps({"version": fn.version, "events": events, "result": json.loads(last.run.result_json),
                      "resultJson": last.run.result_json, "notFoundCode": not_found["code"],
                      "notFoundName": not_found["name"], "notFoundMessage": not_found["message"],
                      "notFoundDetails": not_found["details"]}))


if __name__ == "__main__":
    try:
        main()
    except grpc.RpcError as error:  # The failed call's code, message and details, on one line.
        sys.exit(f"{error.code().name}: {error.details()} {json.dumps(status_details(error))}")
