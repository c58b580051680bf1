// safetensors io (huggingface/safetensors `safetensors/src/tensor.rs`: `read_metadata`,
// `Metadata::validate`, `prepare`). Every error names the file, the tensor or field, and the values.
#include "anvil/core/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "anvil/base/file.h"

namespace anvil {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian");

namespace {

using Json = nlohmann::json;

struct KnownDType {
  const char* name;
  int bits;
  std::optional<DType> dtype;  // set for the dtypes anvil loads
};

// Every dtype the reference library names, with its size; the ones anvil loads map to a DType.
constexpr KnownDType kKnownDTypes[] = {
    {"BOOL", 8, std::nullopt},         {"U8", 8, std::nullopt},          {"I8", 8, DType::kI8},
    {"I16", 16, std::nullopt},         {"U16", 16, std::nullopt},        {"F16", 16, DType::kF16},
    {"BF16", 16, DType::kBF16},        {"I32", 32, DType::kI32},         {"U32", 32, std::nullopt},
    {"F32", 32, DType::kF32},          {"F64", 64, std::nullopt},        {"I64", 64, DType::kI64},
    {"U64", 64, std::nullopt},         {"C64", 64, std::nullopt},        {"F8_E5M2", 8, std::nullopt},
    {"F8_E4M3", 8, std::nullopt},      {"F8_E8M0", 8, std::nullopt},     {"F8_E4M3FNUZ", 8, std::nullopt},
    {"F8_E5M2FNUZ", 8, std::nullopt},  {"F4", 4, std::nullopt},          {"F6_E2M3", 6, std::nullopt},
    {"F6_E3M2", 6, std::nullopt},
};

const KnownDType* find_dtype(const std::string& name) {
  for (const KnownDType& k : kKnownDTypes)
    if (name == k.name) return &k;
  return nullptr;
}

// Position in the reference library's `Dtype` enum (declared in increasing alignment); the writer
// sorts by this, descending, then by name — so anvil's files are byte-identical to the reference's.
int writer_rank(DType dt) {
  switch (dt) {
    case DType::kI8: return 0;
    case DType::kF16: return 1;
    case DType::kBF16: return 2;
    case DType::kI32: return 3;
    case DType::kF32: return 4;
    case DType::kI64: return 5;
  }
  return 0;
}

const char* json_type(const Json& j) { return j.type_name(); }

// Duplicate-key detection: nlohmann keeps the last value silently, the format forbids duplicates.
struct DuplicateKeyFinder {
  std::vector<std::set<std::string>> open_objects;
  std::optional<std::string> duplicate;

  bool operator()(int depth, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start: open_objects.emplace_back(); break;
      case Json::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!open_objects.empty() && !open_objects.back().insert(parsed.get<std::string>()).second && !duplicate)
          duplicate = parsed.get<std::string>();
        break;
      default: break;
    }
    return true;
  }
};

Result<uint64_t> read_u64_field(const Json& j, const std::string& what, const std::string& where) {
  if (!j.is_number_unsigned())
    return invalid_argument("{}: {} is {} ({}), expected a non-negative integer", where, what, j.dump(),
                            json_type(j));
  return j.get<uint64_t>();
}

Result<SafetensorsEntry> parse_entry(const std::string& name, const Json& j, const std::string& where) {
  const std::string at = fmt::format("{}: tensor '{}'", where, name);
  if (!j.is_object()) return invalid_argument("{}: entry is {}, expected an object", at, json_type(j));
  SafetensorsEntry e;
  e.name = name;
  for (const char* field : {"dtype", "shape", "data_offsets"})
    if (!j.contains(field)) return invalid_argument("{}: missing field '{}'", at, field);

  const Json& jd = j["dtype"];
  if (!jd.is_string()) return invalid_argument("{}: field 'dtype' is {}, expected a string", at, json_type(jd));
  e.dtype_name = jd.get<std::string>();
  const KnownDType* known = find_dtype(e.dtype_name);
  if (known == nullptr) return invalid_argument("{}: unknown dtype '{}'", at, e.dtype_name);
  e.dtype = known->dtype;

  const Json& js = j["shape"];
  if (!js.is_array()) return invalid_argument("{}: field 'shape' is {}, expected an array", at, json_type(js));
  uint64_t numel = 1;
  bool overflow = false;
  for (size_t i = 0; i < js.size(); ++i) {
    ANVIL_ASSIGN_OR_RETURN(uint64_t d, read_u64_field(js[i], fmt::format("shape[{}]", i), at));
    if (d > static_cast<uint64_t>(INT64_MAX)) overflow = true;
    e.shape.push_back(static_cast<int64_t>(std::min<uint64_t>(d, INT64_MAX)));
    if (__builtin_mul_overflow(numel, d, &numel)) overflow = true;
  }
  uint64_t total_bits = 0;
  if (overflow || numel > static_cast<uint64_t>(INT64_MAX) ||
      __builtin_mul_overflow(numel, static_cast<uint64_t>(known->bits), &total_bits))
    return out_of_range("{}: shape {} overflows a 64-bit byte count", at, js.dump());
  if (total_bits % 8 != 0)
    return invalid_argument("{}: {} elements of {} ({} bits each) are not a whole number of bytes", at, numel,
                            e.dtype_name, known->bits);
  const uint64_t nbytes = total_bits / 8;

  const Json& jo = j["data_offsets"];
  if (!jo.is_array() || jo.size() != 2)
    return invalid_argument("{}: field 'data_offsets' is {}, expected [begin, end]", at, jo.dump());
  ANVIL_ASSIGN_OR_RETURN(e.begin, read_u64_field(jo[0], "data_offsets[0]", at));
  ANVIL_ASSIGN_OR_RETURN(e.end, read_u64_field(jo[1], "data_offsets[1]", at));
  if (e.end < e.begin) return invalid_argument("{}: data_offsets [{}, {}) end before they begin", at, e.begin, e.end);
  if (e.end - e.begin != nbytes)
    return invalid_argument("{}: data_offsets [{}, {}) hold {} bytes, {}{} needs {}", at, e.begin, e.end,
                            e.end - e.begin, e.dtype_name, js.dump(), nbytes);
  return e;
}

}  // namespace

Result<SafetensorsFile> SafetensorsFile::parse(std::span<const uint8_t> bytes, const std::string& label,
                                               std::shared_ptr<const void> keeper) {
  const std::string where = fmt::format("[safetensors.load] '{}'", label);
  if (bytes.size() < 8)
    return invalid_argument("{}: file is {} bytes, shorter than the 8-byte header length", where, bytes.size());
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  if (n > kSafetensorsMaxHeaderBytes)
    return out_of_range("{}: header length {} exceeds the limit {}", where, n, kSafetensorsMaxHeaderBytes);
  if (n + 8 > bytes.size())
    return invalid_argument("{}: header length {} needs {} bytes, file has {}", where, n, n + 8, bytes.size());

  const char* header = reinterpret_cast<const char*>(bytes.data() + 8);
  DuplicateKeyFinder dup;
  Json root;
  try {
    root = Json::parse(header, header + n, std::ref(dup));
  } catch (const Json::exception& e) {
    return invalid_argument("{}: header ({} bytes) is not valid JSON: {}", where, n, e.what());
  }
  if (dup.duplicate) return invalid_argument("{}: duplicate key '{}' in header", where, *dup.duplicate);
  if (!root.is_object()) return invalid_argument("{}: header is {}, expected a JSON object", where, json_type(root));

  SafetensorsFile f;
  f.label_ = label;
  f.keeper_ = std::move(keeper);
  f.header_bytes_ = n;
  f.data_ = bytes.subspan(static_cast<size_t>(8 + n));
  for (const auto& [key, value] : root.items()) {
    if (key == "__metadata__") {
      if (!value.is_object())
        return invalid_argument("{}: '__metadata__' is {}, expected an object of strings", where, json_type(value));
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string())
          return invalid_argument("{}: '__metadata__' value for key '{}' is {}, expected a string", where, mk,
                                  json_type(mv));
        f.metadata_[mk] = mv.get<std::string>();
      }
      continue;
    }
    ANVIL_ASSIGN_OR_RETURN(SafetensorsEntry e, parse_entry(key, value, where));
    f.entries_.push_back(std::move(e));
  }

  const uint64_t buffer_size = f.data_.size();
  for (const SafetensorsEntry& e : f.entries_)
    if (e.end > buffer_size)
      return invalid_argument("{}: data_offsets [{}, {}) of '{}' need {} bytes, buffer has {}", where, e.begin, e.end,
                              e.name, e.end, buffer_size);
  std::sort(f.entries_.begin(), f.entries_.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  const SafetensorsEntry* prev = nullptr;
  for (const SafetensorsEntry& e : f.entries_) {
    if (e.begin < covered)
      return invalid_argument("{}: data_offsets [{}, {}) of '{}' overlap '{}' which ends at {}", where, e.begin, e.end,
                              e.name, prev->name, covered);
    if (e.begin > covered)
      return invalid_argument("{}: bytes [{}, {}) of the data buffer belong to no tensor (gap before '{}')", where,
                              covered, e.begin, e.name);
    covered = e.end;
    prev = &e;
  }
  if (covered != buffer_size)
    return invalid_argument("{}: {} trailing bytes: tensors cover {} bytes, the data buffer after the {}-byte header "
                            "has {}",
                            where, buffer_size - covered, covered, n, buffer_size);
  for (size_t i = 0; i < f.entries_.size(); ++i) f.index_[f.entries_[i].name] = i;
  return f;
}

Result<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  ANVIL_ASSIGN_OR_RETURN(MappedFile m, MappedFile::open(path));
  auto mapping = std::make_shared<MappedFile>(std::move(m));
  return parse(mapping->bytes(), path, mapping);
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const SafetensorsEntry& e : entries_) out.push_back(e.name);
  return out;
}

const SafetensorsEntry* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second];
}

Result<Tensor> SafetensorsFile::get(const std::string& name) const {
  const SafetensorsEntry* e = find(name);
  if (e == nullptr)
    return not_found("[safetensors.get] '{}': no tensor '{}' (the file has {} tensors)", label_, name,
                     entries_.size());
  if (!e->dtype)
    return unimplemented("[safetensors.get] '{}': unsupported dtype '{}' for tensor '{}' (anvil loads F32, BF16, "
                         "F16, I8, I32, I64)",
                         label_, e->dtype_name, name);
  if (e->shape.size() > static_cast<size_t>(kMaxDims))
    return out_of_range("[safetensors.get] '{}': tensor '{}' has rank {}, anvil tensors have at most {}", label_, name,
                        e->shape.size(), kMaxDims);
  const Shape shape(e->shape);
  const uint8_t* p = data_.data() + e->begin;
  if (reinterpret_cast<uintptr_t>(p) % dtype_size(*e->dtype) != 0) {  // a writer that did not align: copy
    Tensor t = Tensor::empty(shape, *e->dtype);
    if (e->end > e->begin) std::memcpy(t.raw_data(), p, e->end - e->begin);
    return t;
  }
  return Tensor::wrap(const_cast<uint8_t*>(p), shape, *e->dtype, keeper_);
}

// ---- writer ------------------------------------------------------------------------------------

namespace {

struct Prepared {
  std::string head;  // 8-byte length + padded JSON
  std::vector<std::pair<const std::string*, Tensor>> order;
};

Result<std::string> json_string(const std::string& s, const std::string& where, const char* what) {
  try {
    return Json(s).dump(-1, ' ', false, Json::error_handler_t::strict);
  } catch (const Json::exception&) {
    return invalid_argument("{}: {} '{}' is not valid UTF-8", where, what, s);
  }
}

Result<Prepared> prepare(const NamedTensors& tensors, const std::map<std::string, std::string>& metadata,
                         const std::string& where) {
  Prepared p;
  std::set<std::string> seen;
  for (const auto& [name, t] : tensors) {
    if (!t.defined()) return invalid_argument("{}: tensor '{}' is undefined", where, name);
    if (name == "__metadata__") return invalid_argument("{}: '__metadata__' cannot name a tensor", where);
    if (!seen.insert(name).second) return invalid_argument("{}: tensor name '{}' appears twice", where, name);
    p.order.emplace_back(&name, t.contiguous());
  }
  std::stable_sort(p.order.begin(), p.order.end(), [](const auto& a, const auto& b) {
    const int ra = writer_rank(a.second.dtype()), rb = writer_rank(b.second.dtype());
    return ra != rb ? ra > rb : *a.first < *b.first;
  });
  // Compact JSON in the reference's field order: "__metadata__" first, then tensors by offset.
  std::string json = "{";
  bool first = true;
  if (!metadata.empty()) {
    json += "\"__metadata__\":{";
    for (const auto& [k, v] : metadata) {
      if (!first) json += ',';
      first = false;
      ANVIL_ASSIGN_OR_RETURN(std::string jk, json_string(k, where, "metadata key"));
      ANVIL_ASSIGN_OR_RETURN(std::string jv, json_string(v, where, "metadata value"));
      json += jk + ":" + jv;
    }
    json += "}";
    first = false;
  }
  uint64_t offset = 0;
  for (const auto& [name, t] : p.order) {
    ANVIL_ASSIGN_OR_RETURN(std::string jn, json_string(*name, where, "tensor name"));
    const uint64_t nbytes = t.nbytes();
    json += fmt::format("{}{}:{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}", first ? "" : ",", jn,
                        dtype_name(t.dtype()), fmt::join(t.shape().to_vector(), ","), offset, offset + nbytes);
    first = false;
    offset += nbytes;
  }
  json += "}";
  json.append((8 - json.size() % 8) % 8, ' ');
  const uint64_t n = json.size();
  p.head.resize(8);
  std::memcpy(p.head.data(), &n, 8);
  p.head += json;
  return p;
}

}  // namespace

Result<std::string> serialize_safetensors(const NamedTensors& tensors, const std::map<std::string, std::string>& metadata) {
  ANVIL_ASSIGN_OR_RETURN(Prepared p, prepare(tensors, metadata, "[safetensors.save] '<memory>'"));
  std::string out = std::move(p.head);
  for (const auto& [name, t] : p.order)
    if (t.nbytes() > 0) out.append(static_cast<const char*>(t.raw_data()), t.nbytes());
  return out;
}

Status save_safetensors(const std::string& path, const NamedTensors& tensors,
                        const std::map<std::string, std::string>& metadata) {
  const std::string where = fmt::format("[safetensors.save] '{}'", path);
  ANVIL_ASSIGN_OR_RETURN(Prepared p, prepare(tensors, metadata, where));
  AtomicFileWriter w;
  ANVIL_RETURN_IF_ERROR(w.open(path));
  ANVIL_RETURN_IF_ERROR(w.write(p.head.data(), p.head.size()));
  for (const auto& [name, t] : p.order)
    if (t.nbytes() > 0) ANVIL_RETURN_IF_ERROR(w.write(t.raw_data(), t.nbytes()));
  return w.commit();
}

}  // namespace anvil
