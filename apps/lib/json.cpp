#include "apps/lib/json.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace dip::apps {

JsonError::JsonError(const std::string& message, int line, int column)
    : UserError("line " + std::to_string(line) + ", column " + std::to_string(column) + ": " + message),
      line(line),
      column(column) {}

// ---- parsing ----

// Recursive descent over the text; `line_`/`column_` follow the read position for messages.
class JsonParser {
 public:
  explicit JsonParser(const std::string& text) : s_(text) {}

  JsonValue parse_document() {
    JsonValue v = parse_value(0);
    skip_space();
    if (pos_ < s_.size()) fail("unexpected text after the value");
    return v;
  }

 private:
  static constexpr int kMaxDepth = 256;  // deeper nesting is an error, not a stack overflow

  [[noreturn]] void fail(const std::string& message) const { throw JsonError(message, line_, column_); }
  bool at_end() const { return pos_ >= s_.size(); }
  char peek() const { return at_end() ? '\0' : s_[pos_]; }
  char next() {
    if (at_end()) fail("unexpected end of the text");
    const char c = s_[pos_++];
    if (c == '\n') ++line_, column_ = 1;
    else ++column_;
    return c;
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    next();
  }
  void skip_space() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) next();
  }
  void expect_word(const char* word) {
    for (const char* w = word; *w; ++w)
      if (next() != *w) fail(std::string("expected '") + word + "'");
  }

  JsonValue parse_value(int depth) {
    skip_space();
    if (depth > kMaxDepth) fail("nested deeper than " + std::to_string(kMaxDepth) + " levels");
    JsonValue v;
    v.line_ = line_, v.column_ = column_;
    switch (peek()) {
      case '{': parse_object(v, depth); break;
      case '[': parse_array(v, depth); break;
      case '"':
        v.type_ = JsonValue::Type::String;
        v.text_ = parse_string();
        break;
      case 't':
      case 'f':
        v.type_ = JsonValue::Type::Bool;
        v.bool_ = peek() == 't';
        expect_word(v.bool_ ? "true" : "false");
        break;
      case 'n': expect_word("null"); break;
      default:
        if (peek() != '-' && !(peek() >= '0' && peek() <= '9'))
          fail(at_end() ? "unexpected end of the text" : std::string("unexpected character '") + peek() + "'");
        v.type_ = JsonValue::Type::Number;
        v.number_ = parse_number();
    }
    return v;
  }

  void parse_object(JsonValue& v, int depth) {
    v.type_ = JsonValue::Type::Object;
    expect('{');
    skip_space();
    if (peek() == '}') return (void)next();
    for (;;) {
      skip_space();
      if (peek() != '"') fail("expected a key in quotes");
      std::string key = parse_string();
      if (v.find(key)) fail("the key \"" + key + "\" appears twice");
      skip_space();
      expect(':');
      v.members_.emplace_back(std::move(key), parse_value(depth + 1));
      skip_space();
      if (peek() != ',') break;
      next();
    }
    expect('}');
  }

  void parse_array(JsonValue& v, int depth) {
    v.type_ = JsonValue::Type::Array;
    expect('[');
    skip_space();
    if (peek() == ']') return (void)next();
    for (;;) {
      v.items_.push_back(parse_value(depth + 1));
      skip_space();
      if (peek() != ',') break;
      next();
    }
    expect(']');
  }

  // -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, checked here, converted by strtod.
  double parse_number() {
    const size_t start = pos_;
    auto digits = [&] {
      if (!(peek() >= '0' && peek() <= '9')) fail("expected a digit");
      while (peek() >= '0' && peek() <= '9') next();
    };
    if (peek() == '-') next();
    if (peek() == '0') {
      next();
      if (peek() >= '0' && peek() <= '9') fail("numbers do not start with 0");
    } else {
      digits();
    }
    if (peek() == '.') next(), digits();
    if (peek() == 'e' || peek() == 'E') {
      next();
      if (peek() == '+' || peek() == '-') next();
      digits();
    }
    return std::strtod(s_.substr(start, pos_ - start).c_str(), nullptr);  // huge values become inf
  }

  unsigned hex4() {
    unsigned u = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = next();
      const int d = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
      if (d < 0) fail("expected four hex digits after \\u");
      u = u * 16 + d;
    }
    return u;
  }

  // \uXXXX, with a UTF-16 surrogate pair for code points above U+FFFF, as a code point.
  unsigned unicode_escape() {
    const unsigned u = hex4();
    if (u >= 0xDC00 && u <= 0xDFFF) fail("a low surrogate without a high one");
    if (u < 0xD800 || u > 0xDBFF) return u;
    if (next() != '\\' || next() != 'u') fail("a high surrogate without a low one");
    const unsigned low = hex4();
    if (low < 0xDC00 || low > 0xDFFF) fail("a high surrogate without a low one");
    return 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00);
  }

  static void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xC0 | cp >> 6), out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | cp >> 12), out += char(0x80 | (cp >> 6 & 0x3F)), out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | cp >> 18), out += char(0x80 | (cp >> 12 & 0x3F));
      out += char(0x80 | (cp >> 6 & 0x3F)), out += char(0x80 | (cp & 0x3F));
    }
  }

  std::string parse_string() {
    expect('"');
    std::string out;
    for (char c = next(); c != '"'; c = next()) {
      if (static_cast<unsigned char>(c) < 0x20) fail("a control character inside a string (escape it)");
      if (c != '\\') {
        out += c;
        continue;
      }
      switch (const char e = next()) {
        case '"': case '\\': case '/': out += e; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': append_utf8(out, unicode_escape()); break;
        default: fail(std::string("unknown escape '\\") + e + "'");
      }
    }
    return out;
  }

  const std::string& s_;
  size_t pos_ = 0;
  int line_ = 1, column_ = 1;
};

JsonValue parse_json(const std::string& text) { return JsonParser(text).parse_document(); }

JsonValue read_json_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  DIP_USER_CHECK(f, "cannot read '", path, "'");
  std::ostringstream os;
  os << f.rdbuf();
  try {
    return parse_json(os.str());
  } catch (const JsonError& e) {
    throw JsonError(path + ": " + e.what(), e.line, e.column);
  }
}

// ---- accessors ----

void JsonValue::wrong_type(const char* wanted) const {
  static const char* names[] = {"null", "a boolean", "a number", "a string", "an array", "an object"};
  throw JsonError(std::string("expected ") + wanted + ", found " + names[int(type_)], line_, column_);
}

bool JsonValue::boolean() const {
  if (type_ != Type::Bool) wrong_type("true or false");
  return bool_;
}

double JsonValue::number() const {
  if (type_ != Type::Number) wrong_type("a number");
  return number_;
}

int JsonValue::integer() const {
  const double v = number();
  if (!(v == std::floor(v) && std::fabs(v) < 2e9))
    throw JsonError("expected a whole number, found " + json_number(v), line_, column_);
  return int(v);
}

const std::string& JsonValue::text() const {
  if (type_ != Type::String) wrong_type("a string");
  return text_;
}

const std::vector<JsonValue>& JsonValue::array() const {
  if (type_ != Type::Array) wrong_type("an array");
  return items_;
}

const std::vector<JsonValue::Member>& JsonValue::members() const {
  if (type_ != Type::Object) wrong_type("an object");
  return members_;
}

const JsonValue* JsonValue::find(const std::string& key) const {
  for (const Member& m : members_)
    if (m.first == key) return &m.second;
  return nullptr;
}

const JsonValue& JsonValue::at(const std::string& key) const {
  if (type_ != Type::Object) wrong_type("an object");
  if (const JsonValue* v = find(key)) return *v;
  throw JsonError("the object has no \"" + key + "\"", line_, column_);
}

// ---- writing ----

std::string json_quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\', out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  for (int digits : {15, 16, 17}) {  // 15 digits read back for most values: 0.1, not 0.10000000000000001
    std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

}  // namespace dip::apps
