#include "runtime/server/reflection_v1.h"

#include <set>
#include <string>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"

namespace tasker {
namespace {

namespace rv1 = grpc::reflection::v1;
using google::protobuf::DescriptorPool;
using google::protobuf::FileDescriptor;

// A file and, recursively, the files it imports that this answer does not
// hold yet: a client can then build the descriptor from one answer.
void AddFile(const FileDescriptor* file, rv1::FileDescriptorResponse* out, std::set<std::string>* seen) {
  if (!seen->insert(file->name()).second) return;
  google::protobuf::FileDescriptorProto proto;
  file->CopyTo(&proto);
  proto.SerializeToString(out->add_file_descriptor_proto());
  for (int i = 0; i < file->dependency_count(); ++i) AddFile(file->dependency(i), out, seen);
}

grpc::Status AnswerFile(const FileDescriptor* file, const char* missing, rv1::ServerReflectionResponse* response) {
  if (file == nullptr) return grpc::Status(grpc::StatusCode::NOT_FOUND, missing);
  std::set<std::string> seen;
  AddFile(file, response->mutable_file_descriptor_response(), &seen);
  return grpc::Status::OK;
}

}  // namespace

rv1::ServerReflectionResponse ReflectionV1Service::Answer(const rv1::ServerReflectionRequest& request) const {
  // The messages of every linked .proto file (gRPC's v1alpha service reads
  // the same pool).
  const DescriptorPool* pool = DescriptorPool::generated_pool();
  rv1::ServerReflectionResponse response;
  grpc::Status status;
  switch (request.message_request_case()) {
    case rv1::ServerReflectionRequest::kFileByFilename:
      status = AnswerFile(pool->FindFileByName(request.file_by_filename()), "File not found.", &response);
      break;
    case rv1::ServerReflectionRequest::kFileContainingSymbol:
      status = AnswerFile(pool->FindFileContainingSymbol(request.file_containing_symbol()), "Symbol not found.",
                          &response);
      break;
    case rv1::ServerReflectionRequest::kFileContainingExtension: {
      const auto& extension = request.file_containing_extension();
      const auto* type = pool->FindMessageTypeByName(extension.containing_type());
      if (type == nullptr) {
        status = grpc::Status(grpc::StatusCode::NOT_FOUND, "Type not found.");
        break;
      }
      const auto* field = pool->FindExtensionByNumber(type, extension.extension_number());
      status = AnswerFile(field ? field->file() : nullptr, "Extension not found.", &response);
      break;
    }
    case rv1::ServerReflectionRequest::kAllExtensionNumbersOfType: {
      const auto* type = pool->FindMessageTypeByName(request.all_extension_numbers_of_type());
      if (type == nullptr) {
        status = grpc::Status(grpc::StatusCode::NOT_FOUND, "Type not found.");
        break;
      }
      std::vector<const google::protobuf::FieldDescriptor*> extensions;
      pool->FindAllExtensions(type, &extensions);
      auto* numbers = response.mutable_all_extension_numbers_response();
      numbers->set_base_type_name(type->full_name());
      for (const auto* field : extensions) numbers->add_extension_number(field->number());
      break;
    }
    case rv1::ServerReflectionRequest::kListServices:
      for (const std::string& name : services_) response.mutable_list_services_response()->add_service()->set_name(name);
      break;
    default:
      status = grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "");
      break;
  }
  if (!status.ok()) {
    response.mutable_error_response()->set_error_code(status.error_code());
    response.mutable_error_response()->set_error_message(status.error_message());
  }
  response.set_valid_host(request.host());
  *response.mutable_original_request() = request;
  return response;
}

grpc::Status ReflectionV1Service::ServerReflectionInfo(
    grpc::ServerContext*, grpc::ServerReaderWriter<rv1::ServerReflectionResponse, rv1::ServerReflectionRequest>* stream) {
  rv1::ServerReflectionRequest request;
  while (stream->Read(&request)) {
    if (!stream->Write(Answer(request))) break;
  }
  return grpc::Status::OK;
}

}  // namespace tasker
