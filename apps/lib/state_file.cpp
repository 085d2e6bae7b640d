#include "apps/lib/state_file.h"

#include <cstring>

#include "apps/lib/user_error.h"

namespace dip::apps {

namespace {

constexpr char kMagic[8] = {'D', 'I', 'P', 'S', 'T', 'A', 'T', 'E'};
constexpr uint32_t kVersion = 1;
enum Kind : uint8_t { kInteger = 1, kReal = 2, kText = 3, kReals = 4, kTensor = 5 };

template <typename T>
void append(std::string& out, const T& v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

// FNV-1a, 64 bits: catches truncation and flipped bytes (not an adversary).
uint64_t checksum(const char* p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<unsigned char>(p[i])) * 1099511628211ull;
  return h;
}

}  // namespace

StateWriter::StateWriter() {
  bytes_.append(kMagic, sizeof kMagic);
  append(bytes_, kVersion);
}

void StateWriter::key(const std::string& k, uint8_t kind) {
  append(bytes_, static_cast<uint32_t>(k.size()));
  bytes_ += k;
  append(bytes_, kind);
}

void StateWriter::integer(const std::string& k, int64_t v) {
  key(k, kInteger);
  append(bytes_, v);
}

void StateWriter::real(const std::string& k, double v) {
  key(k, kReal);
  append(bytes_, v);
}

void StateWriter::text(const std::string& k, const std::string& v) {
  key(k, kText);
  append(bytes_, static_cast<uint64_t>(v.size()));
  bytes_ += v;
}

void StateWriter::reals(const std::string& k, const std::vector<double>& v) {
  key(k, kReals);
  append(bytes_, static_cast<uint64_t>(v.size()));
  bytes_.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(double));
}

void StateWriter::tensor(const std::string& k, const Tensor& t) {
  DIP_CHECK(t.defined(), "StateWriter: tensor '", k, "' is undefined");
  key(k, kTensor);
  const Shape& s = t.shape();
  append(bytes_, static_cast<uint32_t>(s.rank()));
  for (int i = 0; i < s.rank(); ++i) append(bytes_, s[i]);
  const Tensor host = t.to(Device::CPU);
  bytes_.append(reinterpret_cast<const char*>(host.data()), static_cast<size_t>(s.numel()) * sizeof(float));
}

std::string StateWriter::finish() const {
  std::string out = bytes_;
  out += "END!";
  append(out, checksum(bytes_.data(), bytes_.size()));
  return out;
}

StateReader::StateReader(std::string bytes, const std::string& what) : bytes_(std::move(bytes)), what_(what) {
  const std::string bad = what_ + " is not a dip checkpoint of this version or is damaged";
  const size_t header = sizeof kMagic + sizeof(uint32_t), trailer = 4 + sizeof(uint64_t);
  DIP_USER_CHECK(bytes_.size() >= header + trailer && std::memcmp(bytes_.data(), kMagic, sizeof kMagic) == 0, bad,
                 " (no DIPSTATE header)");
  uint32_t version = 0;
  std::memcpy(&version, bytes_.data() + sizeof kMagic, sizeof version);
  DIP_USER_CHECK(version == kVersion, what_, " is a checkpoint of format ", version, "; this dip reads format ",
                 kVersion);
  const size_t body = bytes_.size() - trailer;
  uint64_t sum = 0;
  std::memcpy(&sum, bytes_.data() + body + 4, sizeof sum);
  DIP_USER_CHECK(bytes_.compare(body, 4, "END!") == 0 && sum == checksum(bytes_.data(), body), bad,
                 " (truncated or corrupted: checksum mismatch)");
  size_t at = header;
  auto take = [&](void* dst, size_t n) {
    DIP_USER_CHECK(at + n <= body, bad, " (a record runs past the end)");
    std::memcpy(dst, bytes_.data() + at, n);
    at += n;
  };
  while (at < body) {
    uint32_t key_size = 0;
    take(&key_size, sizeof key_size);
    DIP_USER_CHECK(key_size <= body - at, bad, " (a record runs past the end)");
    std::string key = bytes_.substr(at, key_size);
    at += key_size;
    uint8_t kind = 0;
    take(&kind, 1);
    const size_t start = at;
    uint64_t count = 0;
    switch (kind) {
      case kInteger:
      case kReal: at += 8; break;
      case kText:
        take(&count, 8);
        DIP_USER_CHECK(count <= body - at, bad, " (record '", key, "' runs past the end)");
        at += count;
        break;
      case kReals:
        take(&count, 8);
        DIP_USER_CHECK(count <= (body - at) / sizeof(double), bad, " (record '", key, "' runs past the end)");
        at += count * sizeof(double);
        break;
      case kTensor: {
        uint32_t rank = 0;
        take(&rank, 4);
        DIP_USER_CHECK(rank <= static_cast<uint32_t>(Shape::kMaxDims), bad, " (tensor '", key, "' of rank ", rank, ")");
        uint64_t n = 1;
        for (uint32_t i = 0; i < rank; ++i) {
          int64_t d = 0;
          take(&d, 8);
          DIP_USER_CHECK(d >= 0 && d < (int64_t{1} << 32), bad, " (tensor '", key, "')");
          n *= static_cast<uint64_t>(d);
          DIP_USER_CHECK(n <= body, bad, " (tensor '", key, "' larger than the file)");
        }
        DIP_USER_CHECK(n <= (body - at) / sizeof(float), bad, " (tensor '", key, "' runs past the end)");
        at += n * sizeof(float);
        break;
      }
      default: throw UserError(bad + " (unknown record kind)");
    }
    DIP_USER_CHECK(at <= body, bad, " (record '", key, "' runs past the end)");
    records_[key] = Record{kind, start, at - start};
  }
}

const StateReader::Record& StateReader::find(const std::string& key, uint8_t kind) const {
  auto it = records_.find(key);
  DIP_USER_CHECK(it != records_.end() && it->second.kind == kind, what_, " lacks '", key,
                 "' (written by another version of dip?)");
  return it->second;
}

int64_t StateReader::integer(const std::string& key) const {
  int64_t v = 0;
  std::memcpy(&v, bytes_.data() + find(key, kInteger).offset, 8);
  return v;
}

double StateReader::real(const std::string& key) const {
  double v = 0;
  std::memcpy(&v, bytes_.data() + find(key, kReal).offset, 8);
  return v;
}

std::string StateReader::text(const std::string& key) const {
  const Record& r = find(key, kText);
  return bytes_.substr(r.offset + 8, r.size - 8);
}

std::vector<double> StateReader::reals(const std::string& key) const {
  const Record& r = find(key, kReals);
  std::vector<double> v((r.size - 8) / sizeof(double));
  std::memcpy(v.data(), bytes_.data() + r.offset + 8, v.size() * sizeof(double));
  return v;
}

Tensor StateReader::tensor(const std::string& key, Device device) const {
  const Record& r = find(key, kTensor);
  const char* p = bytes_.data() + r.offset;
  uint32_t rank = 0;
  std::memcpy(&rank, p, 4);
  p += 4;
  Shape shape;
  for (uint32_t i = 0; i < rank; ++i) {
    int64_t d = 0;
    std::memcpy(&d, p, 8);
    p += 8;
    shape.push_back(d);
  }
  Tensor host = Tensor::empty(shape, Device::CPU);
  std::memcpy(host.data(), p, static_cast<size_t>(shape.numel()) * sizeof(float));
  return host.to(device);
}

void StateReader::copy_into(const std::string& key, Tensor& dst) const {
  const Tensor t = tensor(key, Device::CPU);
  DIP_USER_CHECK(t.shape() == dst.shape(), what_, ": '", key, "' has shape ", t.shape().str(), ", the network needs ",
                 dst.shape().str(), " (a checkpoint of another network?)");
  dst.copy_(t);
}

}  // namespace dip::apps
