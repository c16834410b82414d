#!/usr/bin/python3
"""A stand-in TaskService for the clients' error-details decoding: answers
PublishTask, SubmitRun and WatchRun as the real service does for the clients'
task (the run completes with {"hello": input.lang, "z": 1, "a": -5}), and fails
every GetRun with NOT_FOUND carrying google.rpc.Status details (ErrorInfo and
BadRequest) in the grpc-status-details-bin trailer, the way Tasker's servers
send them. The real stack is what clients_test runs the clients against; this
only shows each client prints details when there are some.

  PYTHONPATH=GENERATED details_server.py PORT_FILE [MODULE]
"""
import importlib
import json
import os
import sys
from concurrent import futures

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import task_client  # noqa: E402 (the google.rpc messages)

REASON = "RUN_NOT_FOUND"
DOMAIN = "tasker.dev"


def not_found_status(run_id):
    messages = task_client._rpc_messages()
    status = messages["Status"](code=grpc.StatusCode.NOT_FOUND.value[0], message=f"run {run_id} not found")
    status.details.add().Pack(messages["ErrorInfo"](reason=REASON, domain=DOMAIN, metadata={"run": run_id}))
    bad = messages["BadRequest"]()
    bad.field_violations.add(field="name", description=f"no run {run_id}")
    status.details.add().Pack(bad)
    return status


def main():
    port_file = sys.argv[1]
    module = sys.argv[2] if len(sys.argv) > 2 else "tasker.v1"
    pb = importlib.import_module(module + ".task_service_pb2")
    pb_grpc = importlib.import_module(module + ".task_service_pb2_grpc")
    message = lambda name, **fields: task_client._get_class(  # noqa: E731
        pb.DESCRIPTOR.pool.FindMessageTypeByName("tasker.v1." + name))(**fields)
    statuses = pb.DESCRIPTOR.pool.FindEnumTypeByName("tasker.v1.RunStatus").values_by_name
    pending, running, completed = (statuses["RUN_STATUS_" + name].number
                                   for name in ("PENDING", "RUNNING", "COMPLETED"))
    runs = {}

    class Service(pb_grpc.TaskServiceServicer):
        def PublishTask(self, request, context):
            return message("TaskFunction", identifier=request.identifier, version=1, code=request.code)

        def SubmitRun(self, request, context):
            run_id = f"run_{len(runs) + 1}"
            lang = json.loads(request.input_json)["lang"]
            runs[run_id] = json.dumps({"hello": lang, "z": 1, "a": -5}, separators=(",", ":"))
            run = message("TaskRun", id=run_id, task_identifier=request.task_identifier, task_version=1,
                          status=pending, input_json=request.input_json)
            return message("SubmitRunResponse", run=run, created=True)

        def WatchRun(self, request, context):
            yield message("RunEvent", run=message("TaskRun", id=request.name, status=running))
            done = message("TaskRun", id=request.name, status=completed, result_json=runs[request.name])
            yield message("RunEvent", run=done, final=True)

        def GetRun(self, request, context):
            status = not_found_status(request.name)
            context.set_trailing_metadata((("grpc-status-details-bin", status.SerializeToString()),))
            context.abort(grpc.StatusCode.NOT_FOUND, status.message)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_TaskServiceServicer_to_server(Service(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with open(port_file + ".tmp", "w") as f:
        f.write(str(port))
    os.rename(port_file + ".tmp", port_file)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
