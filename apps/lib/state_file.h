// The bytes of a checkpoint: named records (integers, reals, texts, real arrays, tensors) in a
// versioned binary layout with a checksum, so a truncated or corrupted file is refused by name
// instead of resuming from garbage.
//
//   "DIPSTATE" u32 version | records: u32 key length, key, u8 kind, payload | "END!" u64 checksum
//
// Payloads: int64; float64; text (u64 length + bytes); float64 array (u64 count + values); tensor
// (u32 rank, int64 dims, float32 values). Little-endian, as the machines dip runs on. Tensors are
// copied through the host and come back on the device the reader asks for.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace dip::apps {

class StateWriter {
 public:
  StateWriter();
  void integer(const std::string& key, int64_t v);
  void real(const std::string& key, double v);
  void text(const std::string& key, const std::string& v);
  void reals(const std::string& key, const std::vector<double>& v);
  void tensor(const std::string& key, const Tensor& t);  // must be defined
  // The finished file's bytes (the checksum appended).
  std::string finish() const;

 private:
  void key(const std::string& k, uint8_t kind);
  std::string bytes_;
};

class StateReader {
 public:
  // UserError naming `what` when the bytes are not a complete state file of this version.
  StateReader(std::string bytes, const std::string& what);
  bool has(const std::string& key) const { return records_.count(key) != 0; }
  int64_t integer(const std::string& key) const;
  double real(const std::string& key) const;
  std::string text(const std::string& key) const;
  std::vector<double> reals(const std::string& key) const;
  Tensor tensor(const std::string& key, Device device) const;
  // Copies the stored tensor into `dst` (same shape), e.g. a parameter that must keep its identity.
  void copy_into(const std::string& key, Tensor& dst) const;

 private:
  struct Record {
    uint8_t kind;
    size_t offset, size;  // payload in bytes_
  };
  const Record& find(const std::string& key, uint8_t kind) const;
  std::string bytes_, what_;
  std::map<std::string, Record> records_;
};

}  // namespace dip::apps
