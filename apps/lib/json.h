// A small, strict JSON reader (RFC 8259) for the files dip writes and reads back: study.json and
// the runs' results (`dip study report`).
//
// parse_json builds a JsonValue tree. Anything that is not JSON — a trailing comma, a leading
// zero, a raw control character in a string, a lone UTF-16 surrogate, text after the value — is a
// JsonError naming the line and column. The accessors throw a JsonError too when the value has
// another type (`number()` of a string), naming where that value started, so a reader can walk a
// file with at("key").number() and still give the user a precise message.
//
// Writers use json_quote and json_number; metrics_json (metrics.h) predates them.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "apps/lib/user_error.h"

namespace dip::apps {

// Malformed JSON, or a value of the wrong type; a UserError because the files are the user's.
struct JsonError : UserError {
  JsonError(const std::string& message, int line, int column);
  int line, column;  // 1-based; where the problem is (or the value starts)
};

class JsonValue {
 public:
  enum class Type { Null, Bool, Number, String, Array, Object };
  using Member = std::pair<std::string, JsonValue>;

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::Null; }
  bool is_number() const { return type_ == Type::Number; }
  bool is_object() const { return type_ == Type::Object; }
  bool is_array() const { return type_ == Type::Array; }

  // The value; a JsonError when it has another type.
  bool boolean() const;
  double number() const;
  int integer() const;  // a number that is a whole int
  const std::string& text() const;
  const std::vector<JsonValue>& array() const;
  const std::vector<Member>& members() const;  // an object's members, in file order

  // An object's member: at() throws when it is missing, find() returns null (also for non-objects).
  const JsonValue& at(const std::string& key) const;
  const JsonValue* find(const std::string& key) const;

  int line() const { return line_; }
  int column() const { return column_; }

 private:
  friend class JsonParser;
  [[noreturn]] void wrong_type(const char* wanted) const;

  Type type_ = Type::Null;
  bool bool_ = false;
  double number_ = 0.0;
  std::string text_;
  std::vector<JsonValue> items_;
  std::vector<Member> members_;
  int line_ = 1, column_ = 1;
};

JsonValue parse_json(const std::string& text);
// The file's contents parsed; a UserError when it cannot be read, a JsonError (its message
// starting with the path) when it is not JSON.
JsonValue read_json_file(const std::string& path);

// "text" with quotes, backslashes and control characters escaped.
std::string json_quote(const std::string& s);
// The shortest decimal that reads back as the same double; null for NaN and infinities.
std::string json_number(double v);

}  // namespace dip::apps
