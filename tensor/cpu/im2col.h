// im2col / col2im for the CPU convolution, with the padding folded into the index maps (the padded
// input is never built).
//
// The column matrix of one image, restricted to output rows [oh0, oh1), is
//   col: (C * KH * KW, (oh1 - oh0) * W_out),  row r = (c * KH + kh) * KW + kw,
//   col[r][(oh - oh0) * W_out + ow] = x[c][src_row[kh][oh]][src_col[kw][ow]]   (0 where a map is -1)
// so that one output row block of a convolution is W (C_out, C * KH * KW) times col.
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/conv2d.h"

namespace dip::cpu {

struct ConvGeometry {
  int64_t channels = 0, height = 0, width = 0;  // one input image (C, H, W)
  int64_t kernel_h = 0, kernel_w = 0;
  int64_t stride = 1, padding = 0;
  int64_t out_h = 0, out_w = 0;
  // Input coordinate read by each (kernel offset, output coordinate); -1 reads a zero.
  std::vector<int32_t> src_row;  // (KH, H_out)
  std::vector<int32_t> src_col;  // (KW, W_out)
  // For kernel column kw, the output columns [col_lo[kw], col_hi[kw]) read inside the image, at
  // ow * stride + kw - padding; only the columns outside that range need src_col.
  std::vector<int64_t> col_lo, col_hi;  // (KW)

  int64_t col_rows() const { return channels * kernel_h * kernel_w; }
};

// The input coordinate that unpadded coordinate i (it may lie outside [0, n)) reads under `mode`,
// or -1 for a zero.
int32_t padded_source(int64_t i, int64_t n, PaddingMode mode);

// The geometry of x (N, C, H, W) convolved with a KH x KW kernel under `opt` (shapes already checked).
ConvGeometry make_conv_geometry(const Shape& x, int64_t kernel_h, int64_t kernel_w,
                                const Conv2dOptions& opt);

// Fills col ((c1 - c0) * KH * KW, (oh1 - oh0) * W_out), the rows of channels [c0, c1) of the column
// matrix, from one image x (C, H, W). Serial: the callers split channels or row blocks among threads.
void im2col(const float* x, const ConvGeometry& g, int64_t oh0, int64_t oh1, int64_t c0, int64_t c1,
            float* col);

// The adjoint of im2col: adds every element of col ((c1 - c0) * KH * KW, (oh1 - oh0) * W_out) to the
// input pixel it was read from (a reflected or replicated position adds to its source pixel; a
// zero-padded one is dropped). dx (C, H, W) accumulates; only planes c0..c1-1 are written. Serial.
void col2im_add(const float* col, const ConvGeometry& g, int64_t oh0, int64_t oh1, int64_t c0,
                int64_t c1, float* dx);

}  // namespace dip::cpu
