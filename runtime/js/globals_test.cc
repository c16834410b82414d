// The task globals of the old platform (issue 14), run in-process through
// LiveRun: what each puts on the wire, what it gives the task, that it is
// and that it is deterministic on replay (checkpoints: globals_checkpoint_test.cc).
#include <functional>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "runtime/js/globals_test_support.h"
#include "runtime/js/live_run.h"
#include "runtime/js/replay.h"

namespace tasker::js {
namespace {

using nlohmann::json;
using testing::Finish;
using testing::HttpAnswer;
using testing::kClock;
using testing::ResultOf;
using testing::TaskRun;

// --- __callHostTool__ -----------------------------------------------------------

TEST(GlobalsTest, PositionalArgumentsOnTheWire) {
  TaskRun run(R"(
    await Promise.all([
      __callHostTool__('keystore', 'getKey', 'ns', 'key'),
      __callHostTool__('keystore', 'listNamespaces'),
      __callHostTool__('svc', 'one', {a: 1}),
      __callHostTool__('svc', 'old', [{a: 1}]),
      __callHostTool__('svc', ['a', 'b'], 1, 'x', null),
      __callHostTool__('svc', 'undef', undefined),
      __callHostTool__('keystore', 'setKey', 'ns', 'key', {v: [1, 2]}),
    ]);
    return 'done';
  )");
  ASSERT_EQ(run.last().kind, Outcome::Kind::kSuspended) << run.last().error_message;
  ASSERT_EQ(run.call_count(), 7u);
  EXPECT_EQ(run.call("c1").service, "keystore");
  EXPECT_EQ(run.call("c1").method, "getKey");
  EXPECT_EQ(run.call("c1").args_json, R"(["ns","key"])");
  EXPECT_EQ(run.call("c2").args_json, "null");
  EXPECT_EQ(run.call("c3").args_json, R"({"a":1})");
  EXPECT_EQ(run.call("c4").args_json, R"([{"a":1}])");  // the old single-array form, as it was
  EXPECT_EQ(run.call("c5").method, "a.b");
  EXPECT_EQ(run.call("c5").args_json, R"([1,"x",null])");
  EXPECT_EQ(run.call("c6").args_json, "null");
  EXPECT_EQ(run.call("c7").args_json, R"(["ns","key",{"v":[1,2]}])");
}

TEST(GlobalsTest, PositionalArgumentsThatAreNotJsonRejectTheCall) {
  TaskRun run(R"(
    try { await __callHostTool__('svc', 'm', 'a', () => 1); } catch (e) { return e.name + ': ' + e.message; }
  )");
  EXPECT_EQ(ResultOf(run.last()), "TypeError: args: a function at args[1] cannot cross the JSON boundary");
  EXPECT_EQ(run.call_count(), 0u);
}

// --- Timers ---------------------------------------------------------------------

TEST(GlobalsTest, TimersAreHostCallsFiredInTheOrderTheirCallsAreAnswered) {
  TaskRun run(R"(
    const order = [];
    let done;
    const all = new Promise((resolve) => { done = resolve; });
    const a = setTimeout((x, y) => { order.push('a' + x + y); if (order.length === 2) done(); }, 100, 1, 2);
    const b = setTimeout(() => { order.push('b'); if (order.length === 2) done(); }, 50.9);
    await all;
    return {order, ids: [a, b]};
  )");
  ASSERT_EQ(run.last().kind, Outcome::Kind::kSuspended) << run.last().error_message;
  ASSERT_EQ(run.call_count(), 2u);
  EXPECT_EQ(run.call("c1").service, "timer");
  EXPECT_EQ(run.call("c1").method, "sleep");
  EXPECT_EQ(run.call("c1").args_json, R"({"ms":100})");
  EXPECT_EQ(run.call("c2").args_json, R"({"ms":50})");
  // The host answers the shorter timer first.
  EXPECT_EQ(run.Deliver("c2", "null").kind, Outcome::Kind::kSuspended);
  json result = ResultOf(run.Deliver("c1", "null"));
  EXPECT_EQ(result["order"], json::parse(R"(["b","a12"])"));
  EXPECT_EQ(result["ids"], json::parse("[1,2]"));
}

TEST(GlobalsTest, TimerDelaysAreWholeMillisecondsAtLeastZero) {
  TaskRun run(R"(
    for (const ms of [-5, 'abc', undefined, NaN, Infinity, 1000.9, 0, '250', null, 2 ** 40]) setTimeout(() => {}, ms);
    setTimeout(() => {});
    await new Promise(() => {});
  )");
  std::vector<std::string> args;
  for (size_t i = 1; i <= run.call_count(); ++i) args.push_back(run.call(absl::StrCat("c", i)).args_json);
  EXPECT_EQ(args, (std::vector<std::string>{R"({"ms":0})", R"({"ms":0})", R"({"ms":0})", R"({"ms":0})",
                                            R"({"ms":0})", R"({"ms":1000})", R"({"ms":0})", R"({"ms":0})",
                                            R"({"ms":0})", R"({"ms":1099511627776})", R"({"ms":0})"}));
}

TEST(GlobalsTest, ClearTimeoutBeforeItFires) {
  TaskRun run(R"(
    let fired = false;
    const t = setTimeout(() => { fired = true; }, 10);
    clearTimeout(t);
    clearTimeout(12345);   // unknown ids are ignored
    clearTimeout(undefined);
    await __callHostTool__('svc', 'wait', {});
    return {fired};
  )");
  ASSERT_EQ(run.call_count(), 2u);
  EXPECT_EQ(run.call("c1").service, "timer");  // the call was made: clearing cannot recall it
  // The cleared timer's call is answered first: its callback does not run.
  EXPECT_EQ(run.Deliver("c1", "null").kind, Outcome::Kind::kSuspended);
  EXPECT_EQ(ResultOf(run.Deliver("c2", "{}")), json::parse(R"({"fired":false})"));
}

TEST(GlobalsTest, SetIntervalFiresThreeTimesThenIsCleared) {
  TaskRun run(R"(
    let n = 0;
    let done;
    const finished = new Promise((resolve) => { done = resolve; });
    const id = setInterval((step) => {
      n += step;
      if (n === 3) { clearInterval(id); done(); }
    }, 1000, 1);
    await finished;
    return {n, id};
  )");
  for (int i = 1; i <= 3; ++i) {
    const std::string id = absl::StrCat("c", i);
    ASSERT_TRUE(run.has_call(id)) << i;
    EXPECT_EQ(run.call(id).args_json, R"({"ms":1000})");
    run.Deliver(id, "null");
  }
  EXPECT_EQ(ResultOf(run.last()), json::parse(R"({"n":3,"id":1})"));
  EXPECT_EQ(run.call_count(), 3u);  // not re-armed after it was cleared
}

TEST(GlobalsTest, AwaitingATimerAndCompletingWithTimersPending) {
  TaskRun run(R"(
    await new Promise((resolve) => setTimeout(resolve, 1000));
    setTimeout(() => { throw new Error('never runs'); }, 60000);
    setInterval(() => {}, 5);
    return 'slept';
  )");
  ASSERT_EQ(run.call_count(), 1u);
  EXPECT_EQ(run.call("c1").args_json, R"({"ms":1000})");
  // The main function returned: the run completes, its pending timers are dropped.
  EXPECT_EQ(ResultOf(run.Deliver("c1", "null")), "slept");
}

TEST(GlobalsTest, ATimerCallbackThatThrowsIsLoggedAndTheRunGoesOn) {
  TaskRun run(R"(
    setTimeout(() => { throw new RangeError('in a timer'); }, 1);
    await new Promise((resolve) => setTimeout(resolve, 2));
    try { setTimeout('alert(1)', 5); } catch (e) { return e.name + ': ' + e.message; }
  )");
  run.Deliver("c1", "null");
  EXPECT_EQ(ResultOf(run.Deliver("c2", "null")),
            "TypeError: setTimeout: the callback must be a function (code strings are not evaluated)");
  ASSERT_EQ(run.logs().size(), 1u);
  EXPECT_EQ(run.logs()[0].level, "error");
  EXPECT_TRUE(absl::StartsWith(run.logs()[0].message, "Uncaught (in setTimeout callback) RangeError: in a timer"))
      << run.logs()[0].message;
}

TEST(GlobalsTest, AFailedTimerCallIsLoggedAndItsCallbackDoesNotRun) {
  TaskRun run(R"(
    let ran = false;
    setTimeout(() => { ran = true; }, 5);
    await __callHostTool__('svc', 'wait', {});
    return ran;
  )");
  run.Fail("c1", "no timers here", "UNAVAILABLE");
  EXPECT_EQ(ResultOf(run.Deliver("c2", "{}")), false);
  ASSERT_EQ(run.logs().size(), 1u);
  EXPECT_TRUE(absl::StrContains(run.logs()[0].message, "setTimeout: the timer failed")) << run.logs()[0].message;
}

// --- crypto -----------------------------------------------------------------------

constexpr char kRandomTask[] = R"(
  const before = [crypto.randomUUID(), crypto.randomUUID()];
  const bytes = Array.from(crypto.getRandomValues(new Uint8Array(7)));
  const r = Math.random();
  await __callHostTool__('svc', 'wait', {uuid: before[0]});
  return {before, bytes, r, after: crypto.randomUUID(), words: Array.from(crypto.getRandomValues(new Uint32Array(2)))};
)";

TEST(GlobalsTest, RandomUuidsAreVersion4AndFollowTheSeed) {
  TaskRun a(kRandomTask, 7);
  TaskRun b(kRandomTask, 7);
  TaskRun c(kRandomTask, 8);
  json ra = ResultOf(a.Deliver("c1", "null"));
  json rb = ResultOf(b.Deliver("c1", "null"));
  json rc = ResultOf(c.Deliver("c1", "null"));
  const std::regex v4("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  for (const json& uuid : {ra["before"][0], ra["before"][1], ra["after"], rc["after"]}) {
    EXPECT_TRUE(std::regex_match(uuid.get<std::string>(), v4)) << uuid;
  }
  EXPECT_NE(ra["before"][0], ra["before"][1]);
  EXPECT_EQ(ra, rb);  // same seed, same values
  EXPECT_NE(ra["before"], rc["before"]);
  EXPECT_EQ(ra["bytes"].size(), 7u);
}

TEST(GlobalsTest, RandomValuesReplayWithoutNondeterminism) {
  TaskRun run(kRandomTask, 99);
  json live = ResultOf(run.Deliver("c1", "null"));
  // Rebuilt from the journal (start, no checkpoint): the call it makes
  // carries the same UUID, and it ends as the live run did.
  auto rebuilt = Rebuild(run.Journal(1));
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status();
  ASSERT_NE(rebuilt->run, nullptr) << rebuilt->outcome.error_message;
  auto out = rebuilt->run->Deliver({"c1", true, "null"}, kClock + 1000);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(ResultOf(*out), live);
}

TEST(GlobalsTest, GetRandomValuesChecksItsArgument) {
  json r = ResultOf(Finish(R"(
    const errors = [];
    for (const make of [() => new Float64Array(2), () => new DataView(new ArrayBuffer(4)), () => [1, 2],
                        () => new Uint8Array(65537)]) {
      try { crypto.getRandomValues(make()); } catch (e) { errors.push([e.name, e.code]); }
    }
    const big = crypto.getRandomValues(new Uint8Array(65536));
    const same = new Int16Array(3);
    return {errors, big: big.length, same: crypto.getRandomValues(same) === same, subtle: typeof crypto.subtle};
  )"));
  EXPECT_EQ(r["errors"], json::parse(R"([["TypeMismatchError",17],["TypeMismatchError",17],
                                        ["TypeMismatchError",17],["QuotaExceededError",22]])"));
  EXPECT_EQ(r["big"], 65536);
  EXPECT_EQ(r["same"], true);
  EXPECT_EQ(r["subtle"], "undefined");
}

// --- URL, URLSearchParams ------------------------------------------------------------

TEST(GlobalsTest, UrlParsing) {
  json r = ResultOf(Finish(R"(
    const parts = (u) => [u.href, u.protocol, u.username, u.password, u.host, u.hostname, u.port, u.pathname,
                          u.search, u.hash, u.origin];
    return {
      relative: parts(new URL('../c/d?x=1#h', 'https://example.com/a/b/e')),
      ipv6: parts(new URL('http://[2001:DB8:0:0:1::1]:8080/p')),
      defaultPort: parts(new URL('HTTPS://User:Pw@Example.COM:443/a/./b/../c')),
      otherPort: new URL('http://a.com:8443/').host,
      encoded: new URL('http://a.com/a b/ä?q=a b&r=ä#f g').href,
      ipv4: new URL('http://0x7f.1/').host,
      idna: new URL('https://bücher.example/').hostname,
      opaque: parts(new URL('mailto:someone@example.com')),
      file: new URL('file:///C:/x/../y').href,
      json: JSON.stringify({u: new URL('http://a.com/x')}),
      string: String(new URL('/p', 'http://a.com')),
      canParse: [URL.canParse('http://a'), URL.canParse('/p'), URL.canParse('/p', 'http://a')],
    };
  )"));
  EXPECT_EQ(r["relative"], json::parse(R"(["https://example.com/a/c/d?x=1#h","https:","","","example.com",
      "example.com","","/a/c/d","?x=1","#h","https://example.com"])"));
  EXPECT_EQ(r["ipv6"], json::parse(R"(["http://[2001:db8::1:0:0:1]:8080/p","http:","","","[2001:db8::1:0:0:1]:8080",
      "[2001:db8::1:0:0:1]","8080","/p","","","http://[2001:db8::1:0:0:1]:8080"])"));
  EXPECT_EQ(r["defaultPort"], json::parse(R"(["https://User:Pw@example.com/a/c","https:","User","Pw","example.com",
      "example.com","","/a/c","","","https://example.com"])"));
  EXPECT_EQ(r["otherPort"], "a.com:8443");
  EXPECT_EQ(r["encoded"], "http://a.com/a%20b/%C3%A4?q=a%20b&r=%C3%A4#f%20g");
  EXPECT_EQ(r["ipv4"], "127.0.0.1");
  EXPECT_EQ(r["idna"], "xn--bcher-kva.example");
  EXPECT_EQ(r["opaque"], json::parse(R"(["mailto:someone@example.com","mailto:","","","","","",
      "someone@example.com","","","null"])"));
  EXPECT_EQ(r["file"], "file:///C:/y");
  EXPECT_EQ(r["json"], R"({"u":"http://a.com/x"})");
  EXPECT_EQ(r["string"], "http://a.com/p");
  EXPECT_EQ(r["canParse"], json::parse("[true,false,true]"));
}

TEST(GlobalsTest, InvalidUrlsAreTypeErrors) {
  json r = ResultOf(Finish(R"(
    const errors = [];
    for (const [input, base] of [['not a url'], ['/relative'], ['http://a:99999/'], ['http://[::1/'],
                                 ['x', 'also not a url'], ['http://exa mple.com/']]) {
      try { new URL(input, base); errors.push('parsed ' + input); } catch (e) {
        errors.push(`${e.name}|${e.message}|${e.code}|${e instanceof TypeError}`);
      }
    }
    return errors;
  )"));
  EXPECT_EQ(r, json::parse(R"([
    "TypeError|Invalid URL: 'not a url'|ERR_INVALID_URL|true",
    "TypeError|Invalid URL: '/relative'|ERR_INVALID_URL|true",
    "TypeError|Invalid URL: 'http://a:99999/'|ERR_INVALID_URL|true",
    "TypeError|Invalid URL: 'http://[::1/'|ERR_INVALID_URL|true",
    "TypeError|Invalid URL: 'x' with base 'also not a url'|ERR_INVALID_URL|true",
    "TypeError|Invalid URL: 'http://exa mple.com/'|ERR_INVALID_URL|true"])"));
}

TEST(GlobalsTest, SearchParamsAreLiveLinkedToTheirUrl) {
  json r = ResultOf(Finish(R"(
    const u = new URL('https://a.com/p?x=1&y=2&x=3#frag');
    const p = u.searchParams;
    const seen = [p.get('x'), p.getAll('x'), p.has('y'), p.has('y', '9'), p.size, p.get('none')];
    p.append('q', 'a b&c=d/é');
    const appended = u.href;
    p.delete('x');
    p.set('y', '~*');
    p.sort();
    const sorted = u.search;
    u.search = '?k=v&k=w';
    const fromUrl = p.getAll('k');
    p.delete('k');
    return {seen, appended, sorted, fromUrl, emptied: u.href, same: u.searchParams === p};
  )"));
  EXPECT_EQ(r["seen"], json::parse(R"(["1",["1","3"],true,false,3,null])"));
  EXPECT_EQ(r["appended"], "https://a.com/p?x=1&y=2&x=3&q=a+b%26c%3Dd%2F%C3%A9#frag");
  EXPECT_EQ(r["sorted"], "?q=a+b%26c%3Dd%2F%C3%A9&y=%7E*");
  EXPECT_EQ(r["fromUrl"], json::parse(R"(["v","w"])"));
  EXPECT_EQ(r["emptied"], "https://a.com/p#frag");
  EXPECT_EQ(r["same"], true);
}

TEST(GlobalsTest, UrlSearchParamsOnTheirOwn) {
  json r = ResultOf(Finish(R"(
    const fromString = new URLSearchParams('?a=1&b=%20x+y&&c&=d&e=%zz&f=%E2%82%AC');
    const fromObject = new URLSearchParams({a: '1', b: 'x y', 'ä': '€'});
    const fromPairs = new URLSearchParams([['a', '1'], ['a', '2'], ['b', "~!'()*"]]);
    const fromMap = new URLSearchParams(new Map([['m', 'n']]));
    const each = [];
    fromPairs.forEach((value, name, all) => each.push(name + '=' + value + ':' + (all === fromPairs)));
    let bad;
    try { new URLSearchParams([['only one']]); } catch (e) { bad = e.name; }
    return {
      fromString: [...fromString], s: fromString.toString(), o: fromObject.toString(), p: fromPairs.toString(),
      m: String(fromMap), keys: [...fromPairs.keys()], values: [...fromPairs.values()],
      entries: [...fromPairs.entries()], each, bad, tag: Object.prototype.toString.call(fromMap),
    };
  )"));
  EXPECT_EQ(r["fromString"], json::parse(R"([["a","1"],["b"," x y"],["c",""],["","d"],["e","%zz"],["f","€"]])"));
  EXPECT_EQ(r["s"], "a=1&b=+x+y&c=&=d&e=%25zz&f=%E2%82%AC");
  EXPECT_EQ(r["o"], "a=1&b=x+y&%C3%A4=%E2%82%AC");
  EXPECT_EQ(r["p"], "a=1&a=2&b=%7E%21%27%28%29*");
  EXPECT_EQ(r["m"], "m=n");
  EXPECT_EQ(r["keys"], json::parse(R"(["a","a","b"])"));
  EXPECT_EQ(r["values"], json::parse(R"(["1","2","~!'()*"])"));
  EXPECT_EQ(r["entries"][2], json::parse(R"(["b","~!'()*"])"));
  EXPECT_EQ(r["each"], json::parse(R"(["a=1:true","a=2:true","b=~!'()*:true"])"));
  EXPECT_EQ(r["bad"], "TypeError");
  EXPECT_EQ(r["tag"], "[object URLSearchParams]");
}

// --- TextEncoder, TextDecoder, atob, btoa ----------------------------------------------

TEST(GlobalsTest, TextEncoderAndDecoderRoundTrip) {
  json r = ResultOf(Finish(R"(
    const text = 'héllo wörld € 😀 𝄞 中文';
    const bytes = new TextEncoder().encode(text);
    const back = new TextDecoder().decode(bytes);
    const lone = Array.from(new TextEncoder().encode('a\ud800b'));
    const into = new Uint8Array(5);
    const result = new TextEncoder().encodeInto('a😀b', into);
    const decoder = new TextDecoder('utf-8');
    const euro = [0xe2, 0x82, 0xac];
    let streamed = '';
    for (const b of [0xef, 0xbb, 0xbf, ...euro, ...euro]) {
      streamed += decoder.decode(new Uint8Array([b]), {stream: true});
    }
    streamed += decoder.decode();
    let fatal;
    try { new TextDecoder('utf-8', {fatal: true}).decode(new Uint8Array([0xc3, 0x28])); } catch (e) { fatal = e.name; }
    let label;
    try { new TextDecoder('klingon'); } catch (e) { label = e.name; }
    return {
      same: back === text, n: bytes.length, lone, read: result.read, written: result.written, into: Array.from(into),
      streamed, keptBom: new TextDecoder('utf-8', {ignoreBOM: true}).decode(new Uint8Array([0xef, 0xbb, 0xbf, 0x41])),
      lossy: new TextDecoder().decode(new Uint8Array([0x61, 0xf0, 0x9f, 0x62, 0xff])), fatal, label,
      utf16: new TextDecoder('utf-16le').decode(new Uint8Array([0x3d, 0xd8, 0x00, 0xde, 0x41, 0x00])),
      latin1: new TextDecoder('latin1').decode(new Uint8Array([0x80, 0xe9])),
      encoding: new TextDecoder('UTF8').encoding, buffer: new TextDecoder().decode(new Uint8Array([104, 105]).buffer),
    };
  )"));
  EXPECT_EQ(r["same"], true);
  EXPECT_EQ(r["n"], 34);
  EXPECT_EQ(r["lone"], json::parse("[97,239,191,189,98]"));  // U+FFFD
  EXPECT_EQ(r["read"], 3);  // 'a' and the pair: 'b' does not fit
  EXPECT_EQ(r["written"], 5);
  EXPECT_EQ(r["into"], json::parse("[97,240,159,152,128]"));
  EXPECT_EQ(r["streamed"], "€€");
  EXPECT_EQ(r["keptBom"], "\xef\xbb\xbf" "A");
  EXPECT_EQ(r["lossy"], "a\xef\xbf\xbd" "b\xef\xbf\xbd");
  EXPECT_EQ(r["fatal"], "TypeError");
  EXPECT_EQ(r["label"], "RangeError");
  EXPECT_EQ(r["utf16"], "\xf0\x9f\x98\x80" "A");
  EXPECT_EQ(r["latin1"], "\xe2\x82\xac\xc3\xa9");
  EXPECT_EQ(r["encoding"], "utf-8");
  EXPECT_EQ(r["buffer"], "hi");
}

TEST(GlobalsTest, AtobAndBtoa) {
  json r = ResultOf(Finish(R"(
    const error = (f) => { try { f(); return 'no error'; } catch (e) { return `${e.name}:${e.code}:${e.message}`; } };
    return {
      btoa: [btoa('hello'), btoa(''), btoa('\xff\xfe\x00')],
      atob: [atob('aGVsbG8='), atob('aGVsbG8'), atob(' aG Vs\nbG8= '), atob('//79').length],
      errors: [error(() => btoa('€')), error(() => atob('a')), error(() => atob('aGV*')), error(() => atob('ab===')),
               error(() => atob())],
    };
  )"));
  EXPECT_EQ(r["btoa"], json::parse(R"(["aGVsbG8=","","//4A"])"));
  EXPECT_EQ(r["atob"], json::parse(R"(["hello","hello","hello",3])"));
  EXPECT_EQ(r["errors"], json::parse(R"([
    "InvalidCharacterError:5:Invalid character",
    "InvalidCharacterError:5:The string to be decoded is not correctly encoded.",
    "InvalidCharacterError:5:The string to be decoded is not correctly encoded.",
    "InvalidCharacterError:5:The string to be decoded is not correctly encoded.",
    "TypeError:undefined:atob: 1 argument required, but only 0 present."])"));
}

// --- structuredClone -------------------------------------------------------------------

TEST(GlobalsTest, StructuredCloneKeepsCyclesSharingAndTypes) {
  json r = ResultOf(Finish(R"(
    const shared = {s: 1};
    const buffer = new ArrayBuffer(8);
    const o = {
      n: 1, str: 'x', big: 10n, nul: null, undef: undefined, date: new Date(86400000), re: /a+b/gi,
      map: new Map([[shared, 'value'], ['k', shared]]), set: new Set([1, 'a', shared]), a: [shared, shared],
      bytes: new Uint8Array(buffer, 2, 4), view: new DataView(buffer), err: new RangeError('boom', {cause: shared}),
      holes: [1, , 3], wrapped: new Number(5),
    };
    o.self = o;
    o.bytes[0] = 9;
    const c = structuredClone(o);
    const [[mapKey, mapValue], [, kValue]] = [...c.map];
    const errors = [];
    for (const bad of [() => 1, Symbol('s'), {f() {}}, new WeakMap()]) {
      try { structuredClone(bad); } catch (e) { errors.push(e.name + ':' + e.code); }
    }
    return {
      copy: c !== o, cycle: c.self === c, sharedOnce: c.a[0] === c.a[1] && c.a[0] !== shared,
      mapShares: mapKey === c.a[0] && kValue === c.a[0], mapValue, setHas: [...c.set].includes(c.a[0]),
      date: c.date instanceof Date && c.date.getTime(), re: c.re instanceof RegExp && c.re.source + '/' + c.re.flags,
      big: typeof c.big, undef: 'undef' in c, bytes: [c.bytes.byteOffset, c.bytes.length, c.bytes[0]],
      sameBuffer: c.bytes.buffer === c.view.buffer && c.bytes.buffer !== buffer,
      err: [c.err instanceof RangeError, c.err.message, c.err.cause === c.a[0], typeof c.err.stack],
      holes: [c.holes.length, 1 in c.holes], wrapped: [typeof c.wrapped, c.wrapped + 1], errors,
    };
  )"));
  EXPECT_EQ(r, json::parse(R"({
    "copy": true, "cycle": true, "sharedOnce": true, "mapShares": true, "mapValue": "value", "setHas": true,
    "date": 86400000, "re": "a+b/gi", "big": "bigint", "undef": true, "bytes": [2, 4, 9], "sameBuffer": true,
    "err": [true, "boom", true, "string"], "holes": [3, false], "wrapped": ["object", 6],
    "errors": ["DataCloneError:25", "DataCloneError:25", "DataCloneError:25", "DataCloneError:25"]})"));
}

// --- fetch ---------------------------------------------------------------------------

TEST(GlobalsTest, FetchRequestsOnTheWire) {
  TaskRun run(R"(
    const results = await Promise.all([
      fetch('https://api.test/items?q=a b#fragment'),  // the fragment is not sent
      fetch('https://api.test/items', {method: 'post', headers: {'Content-Type': 'application/json', 'X-Key': 'k'},
                                       body: JSON.stringify({a: 1})}),
      fetch(new URL('https://api.test/form'), {method: 'PUT', body: new URLSearchParams({a: '1 2', b: 'é'})}),
      fetch('https://api.test/bin', {method: 'POST', body: new Uint8Array([0, 255, 1, 2])}),
      fetch(new Request('https://api.test/req', {method: 'DELETE', headers: new Headers([['A', '1'], ['a', '2']])})),
      fetch('https://api.test/text', {method: 'PATCH', body: 'plain'}),
    ]);
    return results.map((r) => r.status);
  )");
  ASSERT_EQ(run.call_count(), 6u) << run.last().error_message;
  for (size_t i = 1; i <= 6; ++i) {
    EXPECT_EQ(run.call(absl::StrCat("c", i)).service, "http");
    EXPECT_EQ(run.call(absl::StrCat("c", i)).method, "fetch");
  }
  EXPECT_EQ(json::parse(run.call("c1").args_json), json::parse(R"({"url":"https://api.test/items?q=a%20b",
      "method":"GET","headers":{},"body":null,"bodyEncoding":"utf8"})"));
  EXPECT_EQ(json::parse(run.call("c2").args_json), json::parse(R"({"url":"https://api.test/items","method":"POST",
      "headers":{"content-type":"application/json","x-key":"k"},"body":"{\"a\":1}","bodyEncoding":"utf8"})"));
  EXPECT_EQ(json::parse(run.call("c3").args_json), json::parse(R"({"url":"https://api.test/form","method":"PUT",
      "headers":{"content-type":"application/x-www-form-urlencoded;charset=UTF-8"},"body":"a=1+2&b=%C3%A9",
      "bodyEncoding":"utf8"})"));
  EXPECT_EQ(json::parse(run.call("c4").args_json), json::parse(R"({"url":"https://api.test/bin","method":"POST",
      "headers":{},"body":"AP8BAg==","bodyEncoding":"base64"})"));
  EXPECT_EQ(json::parse(run.call("c5").args_json), json::parse(R"({"url":"https://api.test/req","method":"DELETE",
      "headers":{"a":"1, 2"},"body":null,"bodyEncoding":"utf8"})"));
  EXPECT_EQ(json::parse(run.call("c6").args_json), json::parse(R"({"url":"https://api.test/text","method":"PATCH",
      "headers":{"content-type":"text/plain;charset=UTF-8"},"body":"plain","bodyEncoding":"utf8"})"));
  for (size_t i = 1; i <= 6; ++i) run.Deliver(absl::StrCat("c", i), HttpAnswer(200 + i, "{}"));
  EXPECT_EQ(ResultOf(run.last()), json::parse("[201,202,203,204,205,206]"));
}

TEST(GlobalsTest, FetchResponses) {
  TaskRun run(R"(
    const r = await fetch('https://api.test/x');
    const first = {status: r.status, statusText: r.statusText, ok: r.ok, url: r.url, type: r.type,
                   contentType: r.headers.get('content-type'), many: r.headers.get('X-MANY'),
                   has: r.headers.has('x-none'),
                   used: r.bodyUsed, headers: [...r.headers], body: await r.json(), usedAfter: r.bodyUsed};
    let again, immutable;
    try { await r.text(); } catch (e) { again = e.name; }
    try { r.headers.set('a', 'b'); } catch (e) { immutable = e.message; }
    const bin = await fetch('https://api.test/bin');
    const copy = bin.clone();
    const bytes = Array.from(new Uint8Array(await bin.arrayBuffer()));
    const text = await copy.text();
    const missing = await fetch('https://api.test/missing');
    const each = [];
    missing.headers.forEach((value, name) => each.push(name + ':' + value));
    return {first, again, immutable, bytes, text, missing: [missing.status, missing.ok, await missing.text()], each};
  )");
  run.Deliver("c1", HttpAnswer(200, R"({"id":7,"name":"é"})", "utf8",
                               R"({"Content-Type":"application/json","X-Many":["a","b"],"Set-Cookie":["s=1","t=2"]})"));
  run.Deliver("c2", HttpAnswer(200, "aMOpAP8=", "base64", "{}"));  // "hé\0\xff"
  json r = ResultOf(run.Deliver("c3", HttpAnswer(404, "not here", "utf8", R"({"b":"2","a":"1"})")));
  EXPECT_EQ(r["first"], json::parse(R"({"status":200,"statusText":"Status 200","ok":true,
      "url":"https://api.test/final","type":"basic","contentType":"application/json","many":"a, b","has":false,
      "used":false,"headers":[["content-type","application/json"],["set-cookie","s=1"],["set-cookie","t=2"],
      ["x-many","a, b"]],"body":{"id":7,"name":"é"},"usedAfter":true})"));
  EXPECT_EQ(r["again"], "TypeError");
  EXPECT_EQ(r["immutable"], "Headers are immutable");
  EXPECT_EQ(r["bytes"], json::parse("[104,195,169,0,255]"));
  EXPECT_EQ(r["text"], std::string("h\xc3\xa9\0\xef\xbf\xbd", 7));
  EXPECT_EQ(r["missing"], json::parse(R"([404,false,"not here"])"));
  EXPECT_EQ(r["each"], json::parse(R"(["a:1","b:2"])"));
}

TEST(GlobalsTest, AFailedFetchRejectsWithATypeErrorKeepingTheCause) {
  TaskRun run(R"(
    try {
      await fetch('https://down.test/');
    } catch (e) {
      return [e instanceof TypeError, e.message, e.cause instanceof HostCallError, e.cause.code, e.cause.message];
    }
  )");
  EXPECT_EQ(ResultOf(run.Fail("c1", "connect ECONNREFUSED", "UNAVAILABLE")),
            json::parse(R"([true,"fetch failed: connect ECONNREFUSED",true,"UNAVAILABLE","connect ECONNREFUSED"])"));
}

TEST(GlobalsTest, BadFetchInputsRejectWithoutACall) {
  TaskRun run(R"(
    const errors = [];
    for (const [url, init] of [['/relative'], ['https://a.test/', {body: 'x'}], ['https://a.test/', {method: 'TRACE'}],
                               ['https://u:p@a.test/'], ['https://a.test/', {headers: {'bad name': 'x'}}]]) {
      try { await fetch(url, init); errors.push('fetched'); } catch (e) { errors.push(e.name + ': ' + e.message); }
    }
    const r = new Response('hi', {status: 201, headers: {'X-A': '1'}});
    const j = Response.json({a: 1});
    let range;
    try { new Response('x', {status: 99}); } catch (e) { range = e.name; }
    return {errors, r: [r.status, r.ok, r.headers.get('content-type'), await r.text()],
            j: [j.headers.get('content-type'), await j.json()], range,
            req: [new Request('https://a.test/x', {method: 'post'}).method, new Request('https://a.test').url]};
  )");
  EXPECT_EQ(run.call_count(), 0u);
  json r = ResultOf(run.last());
  EXPECT_EQ(r["errors"], json::parse(R"([
    "TypeError: Failed to parse URL from /relative",
    "TypeError: Request with GET/HEAD method cannot have body.",
    "TypeError: Forbidden request method: 'TRACE'",
    "TypeError: Request cannot be constructed from a URL that includes credentials: https://u:p@a.test/",
    "TypeError: Invalid header name: 'bad name'"])"));
  EXPECT_EQ(r["r"], json::parse(R"([201,true,"text/plain;charset=UTF-8","hi"])"));
  EXPECT_EQ(r["j"], json::parse(R"(["application/json",{"a":1}])"));
  EXPECT_EQ(r["range"], "RangeError");
  EXPECT_EQ(r["req"], json::parse(R"(["POST","https://a.test/"])"));
}

// --- console -------------------------------------------------------------------------

TEST(GlobalsTest, MoreOfConsoleIsCaptured) {
  TaskRun run(R"(
    console.table([{a: 1, b: 'x'}, {a: 2, c: true}]);
    console.assert(1 === 2, 'nope', {a: 1});
    console.assert(true, 'not logged');
    console.dir({d: [1]});
    console.time('t');
    await __callHostTool__('svc', 'wait', {});
    console.timeEnd('t');
    console.timeEnd('t');
    console.count(); console.count(); console.count('x');
    console.group('G');
    console.info('inside\nlines');
    console.groupEnd();
    console.debug('outside');
    (function traced() { console.trace('here', 1); })();
    return 1;
  )");
  run.Deliver("c1", "{}");  // the step clock moves on by 1000 ms
  std::vector<std::string> lines;
  for (const LogLine& line : run.logs()) lines.push_back(line.level + "|" + line.message);
  ASSERT_EQ(lines.size(), 12u);
  EXPECT_EQ(lines[0],
            "log|\u250c\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u252c\u2500\u2500\u2500\u252c\u2500\u2500"
            "\u2500\u2500\u2500\u252c\u2500\u2500\u2500\u2500\u2500\u2500\u2510\n"
            "\u2502 (index) \u2502 a \u2502 b   \u2502 c    \u2502\n"
            "\u251c\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u253c\u2500\u2500\u2500\u253c\u2500\u2500"
            "\u2500\u2500\u2500\u253c\u2500\u2500\u2500\u2500\u2500\u2500\u2524\n"
            "\u2502 0       \u2502 1 \u2502 'x' \u2502      \u2502\n"
            "\u2502 1       \u2502 2 \u2502     \u2502 true \u2502\n"
            "\u2514\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2500\u2534\u2500\u2500\u2500\u2534\u2500\u2500"
            "\u2500\u2500\u2500\u2534\u2500\u2500\u2500\u2500\u2500\u2500\u2518");
  EXPECT_EQ(lines[1], R"(error|Assertion failed: nope {"a":1})");
  EXPECT_EQ(lines[2], R"(log|{"d":[1]})");
  EXPECT_EQ(lines[3], "info|t: 1000ms");
  EXPECT_EQ(lines[4], "warn|Timer 't' does not exist");
  EXPECT_EQ(lines[5], "info|default: 1");
  EXPECT_EQ(lines[6], "info|default: 2");
  EXPECT_EQ(lines[7], "info|x: 1");
  EXPECT_EQ(lines[8], "log|G");
  EXPECT_EQ(lines[9], "info|  inside\n  lines");
  EXPECT_EQ(lines[10], "debug|outside");
  EXPECT_TRUE(absl::StartsWith(lines[11], "error|Trace: here 1\n    at traced (task.js:")) << lines[11];
}

// --- tools ---------------------------------------------------------------------------

TEST(GlobalsTest, ToolsChainsOnTheWire) {
  TaskRun run(R"(
    const out = [];
    out.push(await tools.keystore.getKey('ns', 'key'));
    out.push(await tools.gapi.admin.users.list({customer: 'my_customer'}));
    out.push(await tools.keystore.listNamespaces());
    const query = database.from('t').select('*').eq('a', 1).order('b', {ascending: false}).limit(10);
    out.push(await query);
    out.push(await query);  // sent once
    out.push(await tools.database.from('t').insert({a: 1, b: 'x'}).select().single());
    out.push(await tools.database.from('t').update({b: 'y'}).eq('a', 1));
    out.push(await tools.database.from('t').delete().eq('a', 1));
    out.push(await tools.database.from('t').upsert([{a: 1}], {onConflict: 'a'}));
    out.push(await tools.svc.fails().catch((e) => 'caught ' + e.code));
    let finallyRan = false;
    out.push(await tools.svc.x(1).finally(() => { finallyRan = true; }));
    out.push(await tools.svc.y(2).then((v) => 'then ' + v));
    return {out, finallyRan, thenOfService: typeof tools.svc.then, thenOfTools: typeof tools.then};
  )");
  std::vector<std::string> wire;
  for (int i = 1; i <= 30 && run.last().kind == Outcome::Kind::kSuspended; ++i) {
    const std::string id = absl::StrCat("c", i);
    ASSERT_TRUE(run.has_call(id)) << i << ": " << run.last().error_message;
    const HostCall& call = run.call(id);
    wire.push_back(absl::StrCat(call.service, " ", call.method, " ", call.args_json));
    if (call.method == "fails") {
      run.Fail(id, "no", "E_NO");
    } else {
      run.Deliver(id, json(absl::StrCat("r", i)).dump());
    }
  }
  EXPECT_EQ(wire, (std::vector<std::string>{
      R"(keystore getKey ["ns","key"])",
      R"(gapi admin.users.list {"customer":"my_customer"})",
      R"(keystore listNamespaces null)",
      R"(database chain {"chain":[{"property":"from","args":["t"]},{"property":"select","args":["*"]},)"
      R"({"property":"eq","args":["a",1]},{"property":"order","args":["b",{"ascending":false}]},)"
      R"({"property":"limit","args":[10]}]})",
      R"(database chain {"chain":[{"property":"from","args":["t"]},{"property":"insert","args":[{"a":1,"b":"x"}]},)"
      R"({"property":"select","args":[]},{"property":"single","args":[]}]})",
      R"(database chain {"chain":[{"property":"from","args":["t"]},{"property":"update","args":[{"b":"y"}]},)"
      R"({"property":"eq","args":["a",1]}]})",
      R"(database chain {"chain":[{"property":"from","args":["t"]},{"property":"delete","args":[]},)"
      R"({"property":"eq","args":["a",1]}]})",
      R"(database chain {"chain":[{"property":"from","args":["t"]},)"
      R"({"property":"upsert","args":[[{"a":1}],{"onConflict":"a"}]}]})",
      R"(svc fails null)",
      R"(svc x 1)",
      R"(svc y 2)",
  }));
  EXPECT_EQ(ResultOf(run.last()), json::parse(R"({"out":["r1","r2","r3","r4","r4","r5","r6","r7","r8",
      "caught E_NO","r10","then r11"],"finallyRan":true,"thenOfService":"undefined","thenOfTools":"undefined"})"));
}

// --- Sections, overrides -------------------------------------------------------------------

TEST(GlobalsTest, SectionGlobalsLoadOnFirstUseAndCanBeReplaced) {
  json r = ResultOf(Finish(R"(
    const before = Object.getOwnPropertyDescriptor(globalThis, 'URL');
    const kind = typeof URL;
    const after = Object.getOwnPropertyDescriptor(globalThis, 'URL');
    globalThis.fetch = () => 'mine';
    Headers = 5;
    return {lazy: typeof before.get, kind, data: typeof after.value, writable: after.writable,
            enumerable: after.enumerable, fetch: fetch(), headers: Headers,
            globals: ['setTimeout', 'setInterval', 'clearTimeout', 'clearInterval', 'crypto', 'URL', 'URLSearchParams',
                      'TextEncoder', 'TextDecoder', 'atob', 'btoa', 'structuredClone', 'fetch', 'Headers', 'Request',
                      'Response', 'tools', 'database', 'console'].filter((n) => typeof globalThis[n] === 'undefined'),
            absent: ['self', 'window', 'Deno', 'process', 'require'].filter((n) => n in globalThis)};
  )"));
  EXPECT_EQ(r, json::parse(R"({"lazy":"function","kind":"function","data":"function","writable":true,
      "enumerable":false,"fetch":"mine","headers":5,"globals":[],"absent":[]})"));
}

// Builtins the task replaces before it first touches the globals (their
// sections load afterwards) change nothing for them.
TEST(GlobalsTest, BuiltinOverridesDoNotReachTheGlobals) {
  constexpr char kBody[] = R"(
    const u = new URL('https://example.com/a b?x=1#f');
    u.searchParams.append('y', 'z w');
    const enc = new TextEncoder().encode('h\u00e9\ud83d\ude00');
    const dec = new TextDecoder().decode(enc);
    const id = crypto.randomUUID();
    const set = new Set();
    set.add(1);
    set.add(2);
    const clone = structuredClone({m: new Map(), s: set, d: new Date(0), a: [1, {b: 2}]});
    const b64 = btoa('hi') + atob('aGk=');
    await {then(resolve) { setTimeout(resolve, 5); }};
    const res = await fetch('https://api.test/x', {method: 'POST', headers: {'X-A': '1'}, body: '{"a":1}'});
    const body = await res.json();
    const chain = await tools.database.from('t').select('*').eq('a', 1);
    const single = await tools.keystore.getKey('ns', 'k');
    const params = new URLSearchParams({q: 'a b'}) + '';
    return {href: u.href, n: enc.byteLength, dec: dec.length, uuid: id.length, size: clone.s.size + clone.m.size,
            d: clone.d.getTime(),
            b64, body: body.ok, type: res.headers.get('content-type'), chain, single, params};
  )";
  const std::vector<std::string> overrides = {
      "Array.prototype.push = function () { throw new Error('push'); };",
      "Array.prototype[Symbol.iterator] = function () { throw new Error('iterator'); };",
      "JSON.stringify = function () { throw new Error('stringify'); }; JSON.parse = () => 'hijacked';",
      "Promise.prototype.then = function () { throw new Error('then'); };",
      "Function.prototype.call = Function.prototype.apply = function () { throw new Error('call'); };",
      "Reflect.apply = Reflect.construct = () => { throw 1; };",
      "Object.defineProperty = Reflect.defineProperty = Object.keys = Object.getOwnPropertyDescriptor = "
      "() => { throw 1; };",
      "String.prototype.slice = String.prototype.charCodeAt = String.prototype.indexOf = "
      "String.prototype.toLowerCase = String.fromCharCode = () => { throw 1; };",
      "Map.prototype.set = Map.prototype.get = Map.prototype.has = () => { throw 1; };",
      "Object.defineProperty(Object.getPrototypeOf(Uint8Array.prototype), 'length', {get() { throw 1; }});"
      "Uint8Array.prototype.set = () => { throw 1; };",
      "Object.defineProperty(Object.prototype, '0', {set(v) { throw 1; }, configurable: true});"
      "Object.defineProperty(Object.prototype, 'get', {get() { throw 1; }, configurable: true});",
      "globalThis.Error = globalThis.TypeError = globalThis.RangeError = globalThis.Proxy = globalThis.Reflect = "
      "globalThis.ArrayBuffer = function () { throw 1; };",
      "Object.freeze(Object.prototype); Object.freeze(Array.prototype);",
  };
  auto answer = [](const HostCall& call) -> std::string {
    if (call.service == "timer") return "null";
    if (call.service == "http") {
      return R"({"status":200,"headers":{"content-type":"application/json"},"body":"{\"ok\":true}",)"
             R"("bodyEncoding":"utf8"})";
    }
    return json(call.method).dump();
  };
  for (const std::string& override_code : overrides) {
    TaskRun run(override_code + kBody);
    for (int i = 1; i <= 10 && run.last().kind == Outcome::Kind::kSuspended; ++i) {
      const std::string id = absl::StrCat("c", i);
      if (!run.has_call(id)) break;
      run.Deliver(id, answer(run.call(id)));
    }
    ASSERT_EQ(run.last().kind, Outcome::Kind::kCompleted)
        << override_code << "\n" << run.last().error_name << ": " << run.last().error_message;
    EXPECT_EQ(json::parse(run.last().result_json), json::parse(R"({"href":"https://example.com/a%20b?x=1&y=z+w#f",
        "n":7,"dec":4,"uuid":36,"size":2,"d":0,"b64":"aGk=hi","body":true,"type":"application/json","chain":"chain",
        "single":"getKey","params":"q=a+b"})"))
        << override_code;
  }
}

}  // namespace
}  // namespace tasker::js
