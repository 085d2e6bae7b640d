// Tensor: a float32 array of up to 4 dimensions on one device.
//
// Storage is contiguous, row-major and reference counted: copying a Tensor or calling reshape()
// shares the buffer (no data is copied). clone() makes an independent copy.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "tensor/check.h"
#include "tensor/device.h"
#include "tensor/random.h"
#include "tensor/shape.h"

namespace dip {

// A raw buffer of floats on one device, freed when the last Tensor using it goes away.
class Storage {
 public:
  Storage(size_t count, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  float* data() { return data_; }
  size_t count() const { return count_; }
  Device device() const { return device_; }

 private:
  float* data_ = nullptr;
  size_t count_ = 0;
  Device device_;
};

class Tensor {
 public:
  Tensor() = default;  // undefined: no storage (used for "no gradient", "no bias")

  // ---- creation ----
  static Tensor empty(const Shape& shape, Device device = Device::CPU);  // uninitialised
  static Tensor zeros(const Shape& shape, Device device = Device::CPU);
  static Tensor full(const Shape& shape, float value, Device device = Device::CPU);
  static Tensor from_vector(const Shape& shape, const std::vector<float>& values,
                            Device device = Device::CPU);
  // Seeded random fills: drawn on the host from `rng`, so CPU and CUDA tensors get the same values.
  static Tensor uniform(const Shape& shape, float lo, float hi, Rng& rng, Device device = Device::CPU);
  static Tensor normal(const Shape& shape, float mean, float stddev, Rng& rng,
                       Device device = Device::CPU);

  // ---- properties ----
  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank(); }
  int64_t size(int dim) const { return shape_[dim]; }
  int64_t numel() const { return shape_.numel(); }
  Device device() const;
  bool is_cuda() const { return device() == Device::CUDA; }

  // Raw pointer to the first element (host or device memory, per device()).
  float* data() const { return storage_ ? storage_->data() : nullptr; }

  // ---- views and copies ----
  // Same storage, new shape with the same number of elements; one dimension may be -1.
  Tensor reshape(std::initializer_list<int64_t> dims) const;
  Tensor reshape(const Shape& shape) const;
  Tensor clone() const;                 // deep copy on the same device
  Tensor to(Device device) const;       // copy to `device` (shares when already there)
  void copy_(const Tensor& src);        // copy values from src (same numel, any device)
  void fill_(float value);
  std::vector<float> to_vector() const;  // values copied to the host
  float item() const;                    // the single value of a 1-element tensor
  // True when both use the same buffer (aliasing).
  bool shares_storage(const Tensor& other) const { return storage_ == other.storage_; }

 private:
  std::shared_ptr<Storage> storage_;  // a Tensor always starts at its storage's first element
  Shape shape_;
};

// "tensor (2, 3) on cpu" — for error messages.
std::string describe(const Tensor& t);

// All defined tensors on `device`; otherwise an error naming `op`.
void check_same_device(const char* op, std::initializer_list<const Tensor*> tensors);

}  // namespace dip
