#include "services/cli/args.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"

namespace tasker::cli {
namespace {

std::string Canonical(std::string name) { return absl::StrReplaceAll(name, {{"-", "_"}}); }

const FlagSpec* Find(const std::vector<FlagSpec>& known, const std::string& name) {
  for (const auto& f : known) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

absl::StatusOr<std::string> BoolValue(const std::string& flag, const std::string& value) {
  const std::string v = absl::AsciiStrToLower(value);
  if (v == "true" || v == "1" || v == "yes" || v == "on") return std::string("true");
  if (v == "false" || v == "0" || v == "no" || v == "off") return std::string("false");
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": '", value, "' is not true or false"));
}

std::string Unquote(std::string value) {
  value = std::string(absl::StripAsciiWhitespace(value));
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
    auto parsed = nlohmann::json::parse(value, nullptr, false);
    if (parsed.is_string()) return parsed.get<std::string>();
  }
  if (value.size() >= 2 && value.front() == '\'' && value.back() == '\'') {
    return absl::StrReplaceAll(value.substr(1, value.size() - 2), {{"''", "'"}});
  }
  return value;
}

// A '#' starts a comment outside quotes when at the start or after a space.
std::string StripComment(const std::string& line) {
  char quote = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quote) {
      if (c == quote) quote = 0;
      continue;
    }
    if (c == '"' || c == '\'') quote = c;
    if (c == '#' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) return line.substr(0, i);
  }
  return line;
}

void Flatten(const nlohmann::json& j, const std::string& prefix, std::map<std::string, std::string>* out) {
  for (const auto& [key, value] : j.items()) {
    const std::string name = prefix.empty() ? key : absl::StrCat(prefix, ".", key);
    if (value.is_object()) {
      Flatten(value, name, out);
    } else if (value.is_string()) {
      (*out)[name] = value.get<std::string>();
    } else {
      (*out)[name] = value.dump();
    }
  }
}

std::string ReadWhole(const std::string& path, bool* ok) {
  std::ifstream in(path);
  *ok = static_cast<bool>(in);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string Dirname(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
}

// A path from the config file, relative to the file's folder.
std::string Relative(const std::string& config, const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  if (absl::StartsWith(path, "~/")) return path;  // expanded by the caller
  return absl::StrCat(Dirname(config), "/", path);
}

// host:port with the port replaced (the keystore's default address).
std::string WithPort(const std::string& address, int port) {
  std::string scheme;
  std::string rest = address;
  if (size_t pos = rest.find("://"); pos != std::string::npos) {
    scheme = rest.substr(0, pos + 3);
    rest = rest.substr(pos + 3);
  }
  if (absl::StartsWith(rest, "unix:") || absl::StartsWith(address, "unix:")) return address;
  const size_t colon = rest.rfind(':');
  if (colon == std::string::npos || rest.find(']', colon) != std::string::npos) {
    return absl::StrCat(scheme, rest, ":", port);
  }
  return absl::StrCat(scheme, rest.substr(0, colon), ":", port);
}

}  // namespace

std::string ParsedArgs::Get(const std::string& name, const std::string& fallback) const {
  auto it = flags.find(name);
  return it == flags.end() || it->second.empty() ? fallback : it->second.back();
}

bool ParsedArgs::Bool(const std::string& name) const { return Get(name, "false") == "true"; }

absl::StatusOr<ParsedArgs> ParseArgs(const std::vector<std::string>& args, const std::vector<FlagSpec>& known) {
  ParsedArgs parsed;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      for (++i; i < args.size(); ++i) parsed.positional.push_back(args[i]);
      break;
    }
    if (arg.size() < 2 || arg[0] != '-' || arg == "-") {
      parsed.positional.push_back(arg);
      continue;
    }
    std::string name, value;
    bool has_value = false;
    if (arg[1] != '-') {
      // -o json, -ojson, -h, -f
      const FlagSpec* spec = nullptr;
      for (const auto& f : known) {
        if (f.short_name == arg[1]) spec = &f;
      }
      if (!spec) return absl::InvalidArgumentError(absl::StrCat("unknown flag ", arg));
      name = spec->name;
      if (arg.size() > 2) {
        if (spec->value_name.empty()) return absl::InvalidArgumentError(absl::StrCat("-", std::string(1, arg[1]), " takes no value"));
        value = arg.substr(2);
        has_value = true;
      }
    } else {
      std::string body = arg.substr(2);
      if (size_t eq = body.find('='); eq != std::string::npos) {
        value = body.substr(eq + 1);
        body = body.substr(0, eq);
        has_value = true;
      }
      name = Canonical(body);
    }
    const FlagSpec* spec = Find(known, name);
    if (!spec && absl::StartsWith(name, "no") && !has_value) {
      // --noreveal
      const FlagSpec* negated = Find(known, name.substr(2));
      if (negated && negated->value_name.empty()) {
        parsed.flags[negated->name].push_back("false");
        continue;
      }
    }
    if (!spec) return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    if (spec->value_name.empty()) {
      if (has_value) {
        auto b = BoolValue(name, value);
        if (!b.ok()) return b.status();
        value = *b;
      } else {
        value = "true";
      }
    } else if (!has_value) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat("--", name, ": needs a value (", spec->value_name, ")"));
      }
      value = args[++i];
    }
    parsed.flags[spec->name].push_back(value);
  }
  return parsed;
}

absl::StatusOr<std::map<std::string, std::string>> ParseConfigText(const std::string& text, const std::string& path) {
  std::map<std::string, std::string> out;
  const std::string trimmed(absl::StripAsciiWhitespace(text));
  if (absl::StartsWith(trimmed, "{")) {
    auto j = nlohmann::json::parse(trimmed, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": not a valid JSON object"));
    }
    Flatten(j, "", &out);
    return out;
  }
  std::string section;
  int line_number = 0;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    ++line_number;
    std::string line = StripComment(std::string(absl::StripSuffix(raw, "\r")));
    if (absl::StripAsciiWhitespace(line).empty() || absl::StartsWith(line, "---")) continue;
    const bool indented = line[0] == ' ' || line[0] == '\t';
    const size_t colon = line.find(':');
    if (colon == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", line_number, ": expected 'key: value'"));
    }
    const std::string key(absl::StripAsciiWhitespace(line.substr(0, colon)));
    const std::string value = Unquote(line.substr(colon + 1));
    if (key.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ":", line_number, ": empty key"));
    if (indented) {
      if (section.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ":", line_number, ": unexpected indent"));
      out[absl::StrCat(section, ".", key)] = value;
    } else if (value.empty()) {
      section = key;  // "tls:" opens a section
    } else {
      section.clear();
      out[key] = value;
    }
  }
  return out;
}

absl::StatusOr<absl::Duration> ParseDurationArg(const std::string& text, const std::string& what) {
  absl::Duration d;
  std::string t = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  if (absl::EndsWith(t, "d")) {
    double days;
    if (absl::SimpleAtod(t.substr(0, t.size() - 1), &days) && days >= 0) return absl::Hours(24 * days);
  }
  if (absl::ParseDuration(t, &d) && d >= absl::ZeroDuration()) return d;
  return absl::InvalidArgumentError(absl::StrCat(what, ": '", text, "' is not a duration (e.g. 30s, 5m, 2h, 1d)"));
}

absl::StatusOr<Settings> ResolveSettings(const ParsedArgs& args,
                                         const std::function<std::optional<std::string>(const char*)>& getenv) {
  Settings s;
  auto env = [&](const char* name) -> std::string {
    auto v = getenv(name);
    return v ? *v : "";
  };
  auto home_path = [&](std::string p) {
    if (absl::StartsWith(p, "~/")) p = absl::StrCat(env("HOME"), p.substr(1));
    return p;
  };

  // The config file: named ones must exist; the default one may not.
  std::map<std::string, std::string> config;
  std::string config_path = args.Get("config");
  std::string config_from = "--config";
  if (config_path.empty()) {
    config_path = env("TASKER_CONFIG");
    config_from = "TASKER_CONFIG";
  }
  bool required = !config_path.empty();
  if (config_path.empty()) {
    std::string base = env("XDG_CONFIG_HOME");
    if (base.empty() && !env("HOME").empty()) base = absl::StrCat(env("HOME"), "/.config");
    if (!base.empty()) {
      for (const char* name : {"config.yaml", "config.yml", "config.json"}) {
        const std::string candidate = absl::StrCat(base, "/tasker/", name);
        bool ok;
        ReadWhole(candidate, &ok);
        if (ok) {
          config_path = candidate;
          break;
        }
      }
    }
  }
  if (!config_path.empty()) {
    config_path = home_path(config_path);
    bool ok;
    const std::string text = ReadWhole(config_path, &ok);
    if (!ok) {
      if (required) return absl::InvalidArgumentError(absl::StrCat(config_from, ": cannot read ", config_path));
    } else {
      auto parsed = ParseConfigText(text, config_path);
      if (!parsed.ok()) return parsed.status();
      config = std::move(*parsed);
      s.config_path = config_path;
    }
  }
  // Accepted keys; aliases map to the canonical one.
  const std::map<std::string, std::string> aliases = {
      {"address", "address"},         {"target", "address"},          {"keystore_address", "keystore_address"},
      {"keystore", "keystore_address"}, {"token", "token"},            {"token_file", "token_file"},
      {"tls.ca", "tls_ca"},           {"tls_ca", "tls_ca"},           {"tls.cert", "tls_cert"},
      {"tls_cert", "tls_cert"},       {"tls.key", "tls_key"},         {"tls_key", "tls_key"},
      {"tls.server_name", "tls_server_name"}, {"tls_server_name", "tls_server_name"},
      {"output", "output"},           {"color", "color"},             {"timeout", "timeout"},
  };
  std::map<std::string, std::string> file;
  for (const auto& [key, value] : config) {
    auto it = aliases.find(key);
    if (it == aliases.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          s.config_path, ": unknown key '", key,
          "' (known: address, keystore_address, token, token_file, tls.ca, tls.cert, tls.key, tls.server_name, "
          "output, color, timeout)"));
    }
    file[it->second] = value;
  }
  const std::string from_file = absl::StrCat("config ", s.config_path);

  // flag > environment > config file > default, for each setting.
  auto pick = [&](const std::vector<std::string>& flags, const char* var, const std::string& key,
                  const std::string& fallback, std::string* source) -> std::string {
    for (const auto& f : flags) {
      if (args.Has(f)) {
        if (source) *source = "flag --" + f;
        return args.Get(f);
      }
    }
    if (var && !env(var).empty()) {
      if (source) *source = absl::StrCat("env ", var);
      return env(var);
    }
    if (auto it = file.find(key); it != file.end() && !it->second.empty()) {
      if (source) *source = from_file;
      return it->second;
    }
    if (source) *source = "default";
    return fallback;
  };
  s.address = pick({"address", "target"}, "TASKER_ADDRESS", "address", kDefaultAddress, &s.address_source);
  s.keystore_address = pick({"keystore"}, "TASKER_KEYSTORE_ADDRESS", "keystore_address", "", &s.keystore_source);
  if (s.keystore_address.empty()) {
    s.keystore_address = WithPort(s.address, kDefaultKeystorePort);
    s.keystore_source = absl::StrCat("the address's host, port ", kDefaultKeystorePort);
  }
  auto path_setting = [&](const char* flag, const char* var, const char* key) {
    std::string source;
    std::string value = pick({flag}, var, key, "", &source);
    if (source == from_file) value = Relative(s.config_path, value);
    return home_path(value);
  };
  s.tls_ca = path_setting("tls_ca", "TASKER_TLS_CA", "tls_ca");
  s.tls_cert = path_setting("tls_cert", "TASKER_TLS_CERT", "tls_cert");
  s.tls_key = path_setting("tls_key", "TASKER_TLS_KEY", "tls_key");
  s.tls_server_name = pick({"tls_server_name"}, "TASKER_TLS_SERVER_NAME", "tls_server_name", "", nullptr);
  if (s.tls_cert.empty() != s.tls_key.empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key: give both or neither");
  }
  if (!s.tls_cert.empty() && s.tls_ca.empty()) {
    return absl::InvalidArgumentError("--tls_cert: needs --tls_ca (TLS is on when a CA is given)");
  }

  // The token: --token_file > TASKER_TOKEN > TASKER_TOKEN_FILE > config token / token_file.
  std::string token_file;
  if (args.Has("token_file")) {
    token_file = home_path(args.Get("token_file"));
    s.token_source = "flag --token_file";
  } else if (!env("TASKER_TOKEN").empty()) {
    s.token = env("TASKER_TOKEN");
    s.token_source = "env TASKER_TOKEN";
  } else if (!env("TASKER_TOKEN_FILE").empty()) {
    token_file = home_path(env("TASKER_TOKEN_FILE"));
    s.token_source = "env TASKER_TOKEN_FILE";
  } else if (file.count("token") && file.count("token_file")) {
    return absl::InvalidArgumentError(absl::StrCat(s.config_path, ": token and token_file: give one"));
  } else if (file.count("token")) {
    s.token = file["token"];
    s.token_source = from_file;
  } else if (file.count("token_file")) {
    token_file = home_path(Relative(s.config_path, file["token_file"]));
    s.token_source = from_file;
  }
  if (!token_file.empty()) {
    bool ok;
    std::string token = ReadWhole(token_file, &ok);
    absl::StripTrailingAsciiWhitespace(&token);
    if (!ok) return absl::InvalidArgumentError(absl::StrCat(s.token_source, ": cannot read ", token_file));
    if (token.empty()) return absl::InvalidArgumentError(absl::StrCat(s.token_source, ": ", token_file, " is empty"));
    s.token = token;
  }

  s.output = absl::AsciiStrToLower(pick({"output"}, "TASKER_OUTPUT", "output", "table", nullptr));
  if (s.output == "text" || s.output == "human" || s.output == "wide") s.output = "table";
  if (s.output != "table" && s.output != "json" && s.output != "yaml") {
    return absl::InvalidArgumentError(absl::StrCat("--output: '", s.output, "' is not table, json or yaml"));
  }
  s.color = absl::AsciiStrToLower(pick({"color"}, nullptr, "color", "auto", nullptr));
  if (args.Has("no_color") && args.Bool("no_color")) s.color = "never";
  if (s.color != "auto" && s.color != "always" && s.color != "never") {
    return absl::InvalidArgumentError(absl::StrCat("--color: '", s.color, "' is not auto, always or never"));
  }
  std::string timeout_source;
  const std::string timeout = pick({"timeout"}, "TASKER_TIMEOUT", "timeout", "30s", &timeout_source);
  auto d = ParseDurationArg(timeout, timeout_source == "default" ? "--timeout" : timeout_source);
  if (!d.ok()) return d.status();
  if (*d <= absl::ZeroDuration()) return absl::InvalidArgumentError("--timeout: must be more than 0");
  s.timeout = *d;
  return s;
}

}  // namespace tasker::cli
