// Where a tensor's storage lives.
#pragma once
#include <string>

namespace dip {

enum class Device { CPU, CUDA };

inline const char* device_name(Device d) { return d == Device::CPU ? "cpu" : "cuda"; }

}  // namespace dip
