#include "tensor/tensor.h"

#include <malloc.h>

#include <cstdlib>
#include <cstring>

#include "gpu/runtime.h"

namespace dip {

// ---- Storage ----------------------------------------------------------------

namespace {
// A training step frees and re-allocates the same large activations every iteration. By default
// glibc serves blocks over 128 KiB with mmap and hands them back to the kernel on free, which must
// then zero fresh pages on the next allocation: ~17% of single-thread CPU time on the skip net at
// 128x128, and 3x the whole iteration at 256x256 (1570 -> 546 ms, dip-bench, 2 threads), where the
// activations exceed glibc's largest mmap threshold (32 MiB). So: no mmap, no trimming — freed
// blocks stay in the heap and the next iteration reuses them.
void keep_freed_memory_in_heap() {
  static const bool done = [] {
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    return true;
  }();
  (void)done;
}
}  // namespace

Storage::Storage(size_t count, Device device) : count_(count), device_(device) {
  size_t bytes = std::max<size_t>(count, 1) * sizeof(float);
  if (device == Device::CPU) {
    keep_freed_memory_in_heap();
    // 64-byte alignment: whole cache lines and AVX-512 loads.
    size_t rounded = (bytes + 63) / 64 * 64;
    data_ = static_cast<float*>(std::aligned_alloc(64, rounded));
    DIP_CHECK(data_ != nullptr, "out of host memory allocating ", bytes, " bytes");
  } else {
    data_ = static_cast<float*>(gpu::device_alloc(bytes));
  }
}

Storage::~Storage() {
  if (device_ == Device::CPU)
    std::free(data_);
  else
    gpu::device_free(data_);
}

// ---- creation -----------------------------------------------------------------

Tensor Tensor::empty(const Shape& shape, Device device) {
  Tensor t;
  t.storage_ = std::make_shared<Storage>(static_cast<size_t>(shape.numel()), device);
  t.shape_ = shape;
  return t;
}

Tensor Tensor::zeros(const Shape& shape, Device device) { return full(shape, 0.f, device); }

Tensor Tensor::full(const Shape& shape, float value, Device device) {
  Tensor t = empty(shape, device);
  t.fill_(value);
  return t;
}

Tensor Tensor::from_vector(const Shape& shape, const std::vector<float>& values, Device device) {
  DIP_CHECK(static_cast<int64_t>(values.size()) == shape.numel(), "from_vector: ", values.size(),
            " values for shape ", shape.str());
  Tensor t = empty(shape, device);
  if (device == Device::CPU)
    std::memcpy(t.data(), values.data(), values.size() * sizeof(float));
  else
    gpu::copy_host_to_device(t.data(), values.data(), values.size() * sizeof(float));
  return t;
}

Tensor Tensor::uniform(const Shape& shape, float lo, float hi, Rng& rng, Device device) {
  std::vector<float> v(static_cast<size_t>(shape.numel()));
  for (float& x : v) x = rng.uniform(lo, hi);
  return from_vector(shape, v, device);
}

Tensor Tensor::normal(const Shape& shape, float mean, float stddev, Rng& rng, Device device) {
  std::vector<float> v(static_cast<size_t>(shape.numel()));
  for (float& x : v) x = mean + stddev * rng.normal();
  return from_vector(shape, v, device);
}

// ---- properties, views, copies ------------------------------------------------

Device Tensor::device() const { return storage_ ? storage_->device() : Device::CPU; }

Tensor Tensor::reshape(std::initializer_list<int64_t> dims) const {
  Shape s;
  int infer = -1;
  int64_t known = 1;
  for (int64_t d : dims) {
    if (d == -1) {
      DIP_CHECK(infer < 0, "reshape: only one dimension may be -1");
      infer = s.rank();
      s.push_back(0);
    } else {
      s.push_back(d);
      known *= d;
    }
  }
  if (infer >= 0) {
    DIP_CHECK(known > 0 && numel() % known == 0, "reshape: cannot infer -1 for ", shape_.str());
    s[infer] = numel() / known;
  }
  return reshape(s);
}

Tensor Tensor::reshape(const Shape& shape) const {
  DIP_CHECK(shape.numel() == numel(), "reshape: ", shape_.str(), " has ", numel(),
            " elements, cannot view as ", shape.str());
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape_, device());
  t.copy_(*this);
  return t;
}

Tensor Tensor::to(Device target) const {
  if (target == device()) return *this;
  Tensor t = empty(shape_, target);
  t.copy_(*this);
  return t;
}

void Tensor::copy_(const Tensor& src) {
  DIP_CHECK(src.numel() == numel(), "copy_: ", describe(src), " into ", describe(*this));
  size_t bytes = static_cast<size_t>(numel()) * sizeof(float);
  if (bytes == 0) return;
  Device from = src.device(), to = device();
  if (from == Device::CPU && to == Device::CPU)
    std::memcpy(data(), src.data(), bytes);
  else if (from == Device::CPU)
    gpu::copy_host_to_device(data(), src.data(), bytes);
  else if (to == Device::CPU)
    gpu::copy_device_to_host(data(), src.data(), bytes);
  else
    gpu::copy_device_to_device(data(), src.data(), bytes);
}

void Tensor::fill_(float value) {
  if (device() == Device::CPU) {
    float* p = data();
    int64_t n = numel();
    for (int64_t i = 0; i < n; ++i) p[i] = value;
  } else {
    gpu::fill_device(data(), value, static_cast<size_t>(numel()));
  }
}

std::vector<float> Tensor::to_vector() const {
  std::vector<float> v(static_cast<size_t>(numel()));
  if (v.empty()) return v;
  if (device() == Device::CPU)
    std::memcpy(v.data(), data(), v.size() * sizeof(float));
  else
    gpu::copy_device_to_host(v.data(), data(), v.size() * sizeof(float));
  return v;
}

float Tensor::item() const {
  DIP_CHECK(numel() == 1, "item: ", describe(*this), " has more than one element");
  return to_vector()[0];
}

std::string describe(const Tensor& t) {
  if (!t.defined()) return "undefined tensor";
  return "tensor " + t.shape().str() + " on " + device_name(t.device());
}

void check_same_device(const char* op, std::initializer_list<const Tensor*> tensors) {
  const Tensor* first = nullptr;
  for (const Tensor* t : tensors) {
    if (!t || !t->defined()) continue;
    if (!first) {
      first = t;
      continue;
    }
    DIP_CHECK(t->device() == first->device(), op, ": inputs on different devices (",
              describe(*first), " and ", describe(*t), "); move them with .to(device) first");
  }
}

}  // namespace dip
