// The task globals of issue 14 against Node 20's own (testdata/node_host.js
// hands them to the task): each task runs through the cold Start/Resume
// chain, so every await is a checkpoint and a restore in a fresh isolate,
// with the globals' objects alive across it.
//
// A process of its own in which every task suspends at its start (no
// finished run's isolate is kept): this V8 build shares one read-only heap
// between its isolates, and restoring a snapshot while an isolate of another
// snapshot is alive can crash V8 (issue 14's report).
#include <fstream>

#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "runtime/js/engine.h"
#include "tests/support/process.h"

namespace tasker::js {
namespace {

// Every call is answered with its args.
Outcome Drive(const std::string& code, int* suspensions) {
  auto out = Start(code, "null", {});
  EXPECT_TRUE(out.ok()) << out.status();
  if (!out.ok()) return Outcome();
  while (out->kind == Outcome::Kind::kSuspended) {
    ++*suspensions;
    std::vector<CallResult> results;
    for (const auto& call : out->calls) results.push_back({call.call_id, true, call.args_json});
    out = Resume(out->continuation, results, {});
    EXPECT_TRUE(out.ok()) << out.status();
    if (!out.ok()) return Outcome();
  }
  return *out;
}

google::protobuf::Value RunUnderNode(const std::string& code) {
  const std::string dir = tasker::testing::MakeTempDir("node");
  std::ofstream(dir + "/task.js") << code;
  auto [rc, output] = tasker::testing::RunCommand(absl::StrCat(
      "/usr/bin/node ", tasker::testing::Runfile("runtime/js/testdata/node_host.js"), " ", dir, "/task.js null"));
  EXPECT_EQ(rc, 0) << output;
  google::protobuf::Value v;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(output, &v).ok()) << output;
  return v;
}

struct Case {
  const char* name;
  const char* code;
  const char* input;  // always null
  int min_suspensions;
};

const Case kCases[] = {
    {"url_like_node", R"(
      const cases = [['https://user:pw@Example.COM:443/a/./b/../c?x=1 2&y=ä#frag'], ['../d?q', 'http://host.test/a/b/c'],
                     ['http://[2001:db8:0:0:1:0:0:1]:8080/'], ['http://0x7f.1/p'], ['mailto:someone@example.com'],
                     ['file:///C:/x/../y'], ['https://bücher.example/'], ['ws://host.test:80/'], ['sc://host.test/ä b'],
                     ['http://host.test/%2e%2E/x'], ['  http://host.test/\tp\n  '], ['http://host.test:99999/'],
                     ['not a url'], ['//other.test/p', 'https://host.test/x']];
      const kept = new URL('https://kept.test/path?one=1');
      const parsed = cases.map(([input, base]) => {
        try {
          const u = new URL(input, base);
          return [u.href, u.origin, u.protocol, u.username, u.password, u.host, u.hostname, u.port, u.pathname,
                  u.search, u.hash];
        } catch (e) { return e.name; }
      });
      await __callHostTool__('echo', 'x', null);
      kept.searchParams.append('two', 'zwei drei');
      kept.hash = 'h';
      kept.pathname = '/other path';
      const after = kept.href;
      await __callHostTool__('echo', 'y', null);
      kept.search = '?k=v';
      return {parsed, after, params: [...kept.searchParams], href: kept.href, json: JSON.stringify(kept)};
    )", "null", 2},
    {"url_search_params_like_node", R"(
      const p = new URLSearchParams('?b=2&a=1&c=%20x+y&a=0&e=%E2%82%AC');
      await __callHostTool__('echo', 'x', null);
      p.sort();
      p.append('sp ace', 'é&=');
      p.set('c', '~!*()');
      const q = new URLSearchParams([['x', '1'], ['x', '2']]);
      q.delete('x', '1');
      return {p: p.toString(), entries: [...p.entries()], all: p.getAll('a'), has: [p.has('a'), p.has('zz')],
              q: q.toString(), o: new URLSearchParams({k: 'v w', 'ü': 'ö'}).toString()};
    )", "null", 1},
    {"text_encoding_like_node", R"(
      const encoder = new TextEncoder();
      const bytes = encoder.encode('aé€😀\ud800z');
      const decoder = new TextDecoder();
      const streamed = [decoder.decode(new Uint8Array([0xef, 0xbb, 0xbf, 0xe2, 0x82]), {stream: true})];
      await __callHostTool__('echo', 'x', null);
      streamed.push(decoder.decode(new Uint8Array([0xac, 0x41])));
      const into = new Uint8Array(4);
      const r = encoder.encodeInto('a😀', into);
      return {bytes: Array.from(bytes), streamed, into: [r.read, r.written, Array.from(into)],
              lossy: new TextDecoder().decode(new Uint8Array([0x61, 0xc0, 0x80, 0xed, 0xa0, 0x80, 0xf0, 0x9f, 0x62])),
              utf16: new TextDecoder('utf-16le').decode(new Uint8Array([0x3d, 0xd8, 0x00, 0xde, 0x41, 0x00])),
              fatal: (() => { try { new TextDecoder('utf-8', {fatal: true}).decode(new Uint8Array([0xff])); }
                              catch (e) { return e.name; } })()};
    )", "null", 1},
    {"base64_like_node", R"(
      const encoded = [btoa('hello'), btoa(''), btoa('\xff\xfe\x00')];
      await __callHostTool__('echo', 'x', null);
      const errors = [];
      for (const f of [() => btoa('\u20ac'), () => atob('a'), () => atob('ab*d'), () => atob('ab===')]) {
        try { f(); errors.push('no error'); } catch (e) { errors.push(e.name); }
      }
      return {encoded, decoded: [atob('aGVsbG8='), atob(' aGVs bG8 '), atob('//79').length], errors};
    )", "null", 1},
    {"structured_clone_like_node", R"(
      const shared = {s: [1, 2]};
      const source = {shared, again: shared, date: new Date(86400000), re: /ab+c/gi, map: new Map([['k', shared]]),
                      set: new Set([1, 'x']), bytes: new Uint8Array([1, 2, 3]), big: 12n, nested: {deep: [null, true]}};
      source.self = source;
      const c = structuredClone(source);
      await __callHostTool__('echo', 'x', null);
      const tag = (v) => Object.prototype.toString.call(v);
      return {sameShared: c.shared === c.again, cycle: c.self === c, copied: c.shared !== shared,
              mapShares: c.map.get('k') === c.shared, date: [tag(c.date), c.date.getTime()],
              re: [tag(c.re), c.re.source, c.re.flags], set: [...c.set], bytes: [tag(c.bytes), Array.from(c.bytes)],
              big: String(c.big), nested: c.nested,
              error: (() => { try { structuredClone({f() {}}); } catch (e) { return e.name; } })()};
    )", "null", 1},
    {"headers_and_response_like_node", R"(
      const h = new Headers({'Content-Type': 'text/plain', 'X-Multi': 'one'});
      h.append('x-multi', 'two');
      h.append('Set-Cookie', 'c=1');
      h.append('set-cookie', 'd=2');
      const response = new Response('{"n":1}', {status: 201, statusText: 'Made', headers: h});
      await __callHostTool__('echo', 'x', null);
      h.delete('content-type');
      const copy = response.clone();
      const json = await response.json();
      return {headers: [...h], get: [h.get('X-MULTI'), h.has('content-type'), h.get('nope')],
              response: [response.status, response.ok, response.statusText, response.bodyUsed,
                         response.headers.get('content-type')],
              json, text: await copy.text(),
              typed: new Response(new Uint8Array([104, 105])).headers.get('content-type'),
              request: [new Request('https://host.test/p', {method: 'post'}).method,
                        new Request('https://host.test').url]};
    )", "null", 1},
};

class GlobalsLikeNodeTest : public ::testing::TestWithParam<Case> {};

TEST_P(GlobalsLikeNodeTest, MatchesNode) {
  const Case& c = GetParam();
  int suspensions = 0;
  Outcome out = Drive(c.code, &suspensions);
  EXPECT_GE(suspensions, c.min_suspensions);
  google::protobuf::Value node = RunUnderNode(c.code);
  const auto& fields = node.struct_value().fields();
  ASSERT_TRUE(fields.count("ok") && fields.at("ok").bool_value()) << node.DebugString();
  ASSERT_EQ(out.kind, Outcome::Kind::kCompleted) << out.error_name << ": " << out.error_message;
  google::protobuf::Value ours;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(out.result_json, &ours).ok()) << out.result_json;
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(ours, fields.at("result")))
      << "tasker: " << out.result_json << "\nnode: " << fields.at("result").DebugString();
}

INSTANTIATE_TEST_SUITE_P(Globals, GlobalsLikeNodeTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace tasker::js
