#include "hotpatch/answer_shape.hpp"

#include <string>
#include <vector>

namespace hotpatch::cli {
namespace {

using json = nlohmann::ordered_json;

enum class Kind { string, number, boolean, object, strings, objects };

struct Field {
  const char* key;
  Kind kind;
  std::vector<Field> items = {};  ///< for Kind::objects: the fields of each element
};

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::string: return "a string";
    case Kind::number: return "a number";
    case Kind::boolean: return "a boolean";
    case Kind::object: return "an object";
    case Kind::strings: return "an array of strings";
    case Kind::objects: return "an array of objects";
  }
  return "?";
}

bool is(const json& v, Kind k) {
  switch (k) {
    case Kind::string: return v.is_string();
    case Kind::number: return v.is_number();
    case Kind::boolean: return v.is_boolean();
    case Kind::object: return v.is_object();
    case Kind::strings: return v.is_array();
    case Kind::objects: return v.is_array();
  }
  return false;
}

Status check(const json& object, const std::string& where, const std::vector<Field>& fields) {
  if (!object.is_object()) {
    return make_error(ErrorCode::protocol, "answer",
                      "is malformed: " + where + " is " + std::string(object.type_name()) + ", not an object");
  }
  for (const auto& f : fields) {
    auto it = object.find(f.key);
    if (it == object.end() || it->is_null()) continue;
    const std::string name = where + "." + f.key;
    auto wrong = [&](const std::string& what, Kind k) {
      return make_error(ErrorCode::protocol, "answer",
                        "is malformed: " + what + " is " + std::string(it->type_name()) + ", not " + kind_name(k));
    };
    if (!is(*it, f.kind)) return wrong(name, f.kind);
    if (f.kind != Kind::strings && f.kind != Kind::objects) continue;
    for (std::size_t i = 0; i < it->size(); ++i) {
      const json& item = (*it)[i];
      const std::string at = name + "[" + std::to_string(i) + "]";
      if (f.kind == Kind::strings && !item.is_string()) {
        return make_error(ErrorCode::protocol, "answer",
                          "is malformed: " + at + " is " + std::string(item.type_name()) + ", not a string");
      }
      if (f.kind == Kind::objects) HOTPATCH_TRY(check(item, at, f.items));
    }
  }
  return {};
}

const std::vector<Field>& function_row() {
  static const std::vector<Field> f{{"symbol", Kind::string},   {"module", Kind::string}, {"version", Kind::number},
                                    {"patch_id", Kind::string}, {"method", Kind::string}, {"since", Kind::string}};
  return f;
}

const std::vector<Field>& shape(control::Op op) {
  static const std::vector<Field> hello{{"patches", Kind::number},   {"functions", Kind::number},
                                        {"patch_level", Kind::strings}, {"registry", Kind::string},
                                        {"command", Kind::string},   {"build_ids", Kind::strings}};
  static const std::vector<Field> status{
      {"patches", Kind::objects,
       {{"id", Kind::string}, {"version", Kind::number}, {"source", Kind::string}, {"applied_at", Kind::string}}},
      {"functions", Kind::objects, function_row()}};
  static const std::vector<Field> apply{
      {"id", Kind::string}, {"version", Kind::number}, {"functions", Kind::objects, function_row()}};
  static const std::vector<Field> revert{{"reverted", Kind::strings}};
  static const std::vector<Field> update{
      {"index_version", Kind::number},
      {"changed", Kind::boolean},
      {"unreachable", Kind::string},
      {"applied", Kind::objects, {{"id", Kind::string}, {"version", Kind::number}}},
      {"failed", Kind::objects,
       {{"id", Kind::string}, {"error", Kind::string}}}};
  switch (op) {
    case control::Op::hello: return hello;
    case control::Op::status: return status;
    case control::Op::apply: return apply;
    case control::Op::revert: return revert;
    case control::Op::update: return update;
  }
  return hello;
}

}  // namespace

Status check_answer(control::Op op, const json& result) { return check(result, "result", shape(op)); }

}  // namespace hotpatch::cli
