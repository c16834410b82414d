// A TaskService client in Go: grpc-go and protoc-gen-go stubs generated from
// proto/tasker/v1 (package taskerv1, import path given to protoc with M options).
//
//	task_client 127.0.0.1:PORT
//
// Against a secured deployment: TASKER_TOKEN (sent as "authorization: Bearer
// <token>" on every call) and TLS from TASKER_TLS_CA, with TASKER_TLS_CERT and
// TASKER_TLS_KEY where client certificates are required.
// Prints one JSON line: {"version":..., "events":[statuses...], "result":..., "notFoundCode":...}.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"io/ioutil"
	"os"
	"strings"
	"time"
	"unicode"

	protov1 "github.com/golang/protobuf/proto"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	// Registers google.rpc.BadRequest, ErrorInfo, ... so status.Details() decodes them.
	_ "google.golang.org/genproto/googleapis/rpc/errdetails"

	taskerv1 "taskerclient/taskerv1"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

// The canonical name of a status code, as the other languages print it: UNAUTHENTICATED, NOT_FOUND, ...
func codeName(err error) string {
	var name strings.Builder
	for i, r := range status.Code(err).String() {
		if i > 0 && unicode.IsUpper(r) {
			name.WriteByte('_')
		}
		name.WriteRune(unicode.ToUpper(r))
	}
	return name.String()
}

// The google.rpc.Status details of an error as JSON objects with their "@type" (none when the server sent none).
func details(s *status.Status) []interface{} {
	out := []interface{}{}
	anys := s.Proto().GetDetails()
	for i, detail := range s.Details() {
		object := map[string]interface{}{}
		if message, ok := detail.(protov1.Message); ok {
			text, err := protojson.Marshal(protov1.MessageV2(message))
			if err == nil {
				err = json.Unmarshal(text, &object)
			}
			if err != nil {
				fail("status detail %d: %v", i, err)
			}
		}
		// A type this client does not know (an error in Details()): its name only.
		name := anys[i].GetTypeUrl()
		object["@type"] = name[strings.LastIndex(name, "/")+1:]
		out = append(out, object)
	}
	return out
}

// Exits with the call's status code name, message and details (google.rpc.Status, when sent).
func failCall(method string, err error) {
	s, _ := status.FromError(err)
	text, _ := json.Marshal(details(s))
	fail("%s: %s: %s %s", method, codeName(err), s.Message(), text)
}

func dial(target string) *grpc.ClientConn {
	option := grpc.WithInsecure()
	if ca := os.Getenv("TASKER_TLS_CA"); ca != "" {
		pem, err := ioutil.ReadFile(ca)
		if err != nil {
			fail("TASKER_TLS_CA: %v", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			fail("TASKER_TLS_CA: no certificate in %s", ca)
		}
		config := &tls.Config{RootCAs: roots}
		if cert := os.Getenv("TASKER_TLS_CERT"); cert != "" {
			pair, err := tls.LoadX509KeyPair(cert, os.Getenv("TASKER_TLS_KEY"))
			if err != nil {
				fail("TASKER_TLS_CERT/TASKER_TLS_KEY: %v", err)
			}
			config.Certificates = []tls.Certificate{pair}
		}
		option = grpc.WithTransportCredentials(credentials.NewTLS(config))
	}
	conn, err := grpc.Dial(target, option)
	if err != nil {
		fail("dial %s: %v", target, err)
	}
	return conn
}

// The call's context: a deadline for unary calls, the token when there is one.
func callContext(timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	if token := os.Getenv("TASKER_TOKEN"); token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	return ctx, cancel
}

func main() {
	if len(os.Args) != 2 {
		fail("usage: task_client HOST:PORT")
	}
	conn := dial(os.Args[1])
	defer conn.Close()
	client := taskerv1.NewTaskServiceClient(conn)

	ctx, cancel := callContext(20 * time.Second)
	defer cancel()
	fn, err := client.PublishTask(ctx, &taskerv1.PublishTaskRequest{
		Identifier: "from-go",
		Code: "const r = await __callHostTool__('admin-debug', 'echo', {lang: input.lang});" +
			" return {hello: r.lang, z: 1, a: -0.5e1};",
		MetadataJson: `{"permissions":["admin-debug:echo"]}`,
	})
	if err != nil {
		failCall("PublishTask", err)
	}
	submitted, err := client.SubmitRun(ctx, &taskerv1.SubmitRunRequest{
		TaskIdentifier: "from-go",
		InputJson:      `{"lang":"go"}`,
	})
	if err != nil {
		failCall("SubmitRun", err)
	}

	// The stream ends when the run does: no deadline of its own beyond the test's.
	watchCtx, watchCancel := callContext(2 * time.Minute)
	defer watchCancel()
	stream, err := client.WatchRun(watchCtx, &taskerv1.WatchRunRequest{Name: submitted.GetRun().GetId()})
	if err != nil {
		failCall("WatchRun", err)
	}
	events := []string{}
	var last *taskerv1.RunEvent
	for {
		event, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			failCall("WatchRun stream", err)
		}
		events = append(events, event.GetRun().GetStatus().String())
		last = event
	}
	if last == nil {
		fail("WatchRun: no event before the end of the stream")
	}

	// A structured error: the status code, and google.rpc.Status details when the server sends them.
	_, err = client.GetRun(ctx, &taskerv1.GetRunRequest{Name: "run_nope"})
	notFound, _ := status.FromError(err)

	var result interface{}
	if err := json.Unmarshal([]byte(last.GetRun().GetResultJson()), &result); err != nil {
		fail("result_json %q: %v", last.GetRun().GetResultJson(), err)
	}
	out, _ := json.Marshal(map[string]interface{}{
		"version":         fn.GetVersion(),
		"events":          events,
		"result":          result,
		"resultJson":      last.GetRun().GetResultJson(),
		"notFoundCode":    int(notFound.Code()),
		"notFoundName":    codeName(err),
		"notFoundMessage": notFound.Message(),
		"notFoundDetails": details(notFound),
	})
	fmt.Println(string(out))
}
