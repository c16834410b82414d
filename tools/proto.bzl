"""C++ message and gRPC code from .proto files with the system protoc.

tasker_proto_library(name, srcs, deps, import_root) generates <src>.pb.{h,cc}
and <src>.grpc.pb.{h,cc} for each source with /usr/bin/protoc and
/usr/bin/grpc_cpp_plugin, and wraps them in a cc_library called `name`.

`import_root` is the directory, relative to the repository root, that import
paths start from: "proto" for Tasker's own files (proto/tasker/v1/common.proto
is imported as "tasker/v1/common.proto", its header included as
"tasker/v1/common.pb.h"). `deps` are other tasker_proto_library targets whose
.proto files the sources import. Well-known types (google/protobuf/*.proto)
resolve from /usr/include and link from the system libprotobuf.
"""

load("@rules_cc//cc:defs.bzl", "cc_library")

def tasker_proto_library(name, srcs, deps = [], import_root = "proto", visibility = None, grpc = True):
    bases = [s[:-len(".proto")] for s in srcs]
    outs = []
    for b in bases:
        outs += [b + ".pb.h", b + ".pb.cc"]
        if grpc:
            outs += [b + ".grpc.pb.h", b + ".grpc.pb.cc"]

    repo = native.repository_name()
    repo_dir = "" if repo == "@" else "external/" + repo[1:] + "/"
    package = native.package_name()
    if import_root and not (package + "/").startswith(import_root + "/"):
        fail("package %s is not under import_root %s" % (package, import_root))

    # protoc writes <import path>.pb.h under --cpp_out; Bazel expects the
    # outputs under the package's directory, so --cpp_out is the import root's
    # output directory.
    out_dir = "$(GENDIR)/" + repo_dir + import_root

    # The import root, as an execroot path (sources of an external repository
    # such as @google_protos are under external/<name>/).
    proto_path = (repo_dir + import_root).rstrip("/") or "."

    native.filegroup(
        name = name + "_protos",
        srcs = srcs + [d + "_protos" for d in deps],
        visibility = visibility,
    )

    native.genrule(
        name = name + "_gen",
        srcs = srcs + [d + "_protos" for d in deps],
        outs = outs,
        cmd = " ".join(
            ["/usr/bin/protoc"] +
            ["--proto_path=" + proto_path] +
            [
                "--proto_path=/usr/include",
                "--cpp_out=" + out_dir,
            ] +
            ([
                "--grpc_out=" + out_dir,
                "--plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin",
            ] if grpc else []) + ["$(location %s)" % s for s in srcs],
        ),
    )

    cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        # Included by import path: "tasker/v1/common.pb.h".
        strip_include_prefix = "/" + import_root if import_root else None,
        deps = deps + [
            "@//third_party:grpc",
            "@//third_party:protobuf",
        ],
        visibility = visibility,
    )
