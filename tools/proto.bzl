"""C++ message and gRPC code from .proto files with the system protoc.

tasker_proto_library(name, srcs, deps) generates <src>.pb.{h,cc} and
<src>.grpc.pb.{h,cc} for each source with /usr/bin/protoc and
/usr/bin/grpc_cpp_plugin, and wraps them in a cc_library called `name`.
`deps` are other tasker_proto_library targets whose .proto files the sources
import. Well-known types (google/protobuf/*.proto) resolve from /usr/include
and link from the system libprotobuf.
"""

load("@rules_cc//cc:defs.bzl", "cc_library")

def tasker_proto_library(name, srcs, deps = [], visibility = None):
    bases = [s[:-len(".proto")] for s in srcs]
    outs = []
    for b in bases:
        outs += [b + ".pb.h", b + ".pb.cc", b + ".grpc.pb.h", b + ".grpc.pb.cc"]

    native.filegroup(
        name = name + "_protos",
        srcs = srcs + [d + "_protos" for d in deps],
        visibility = visibility,
    )

    native.genrule(
        name = name + "_gen",
        srcs = srcs + [d + "_protos" for d in deps],
        outs = outs,
        cmd = " ".join([
            "/usr/bin/protoc",
            "--proto_path=.",
            "--proto_path=/usr/include",
            "--cpp_out=$(GENDIR)",
            "--grpc_out=$(GENDIR)",
            "--plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin",
        ] + ["$(location %s)" % s for s in srcs]),
    )

    cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        deps = deps + [
            "//third_party:grpc",
            "//third_party:protobuf",
        ],
        visibility = visibility,
    )
