#include "nn/attention.h"

#include <cmath>

#include "autograd/functions.h"

namespace dip {

Variable window_partition(const Variable& x, int grid_h, int grid_w, int w) {
  const Shape& s = x.shape();
  DIP_CHECK(s.rank() == 3 && s[1] == int64_t(grid_h) * grid_w, "window_partition: expects (N, ",
            grid_h, "*", grid_w, ", D), got ", s.str());
  DIP_CHECK(w > 0 && grid_h % w == 0 && grid_w % w == 0, "window_partition: the ", grid_h, "x",
            grid_w, " token grid does not divide into ", w, "x", w,
            " windows; pick a window size dividing both");
  const int64_t n = s[0], d = s[2], bh = grid_h / w, bw = grid_w / w;
  // x[n, by, i, bx, j, :] with rows (n, by) and columns (j, :) merged keeps 4 dimensions:
  // (N*bh, w, bw, w*D) -> swap the two middle ones -> (N*bh, bw, w, w*D) = windows contiguous.
  Variable t = reshape(x, {n * bh, w, bw, w * d});
  t = permute(t, {0, 2, 1, 3});
  return reshape(t, {n * bh * bw, int64_t(w) * w, d});
}

Variable window_merge(const Variable& windows, int grid_h, int grid_w, int w) {
  const Shape& s = windows.shape();
  DIP_CHECK(w > 0 && grid_h % w == 0 && grid_w % w == 0, "window_merge: the ", grid_h, "x", grid_w,
            " token grid does not divide into ", w, "x", w, " windows");
  const int64_t bh = grid_h / w, bw = grid_w / w;
  DIP_CHECK(s.rank() == 3 && s[1] == int64_t(w) * w && s[0] % (bh * bw) == 0,
            "window_merge: expects (N*", bh * bw, ", ", w * w, ", D), got ", s.str());
  const int64_t n = s[0] / (bh * bw), d = s[2];
  Variable t = reshape(windows, {n * bh, bw, w, w * d});
  t = permute(t, {0, 2, 1, 3});  // (N*bh, w, bw, w*D)
  return reshape(t, {n, int64_t(grid_h) * grid_w, d});
}

namespace {

// Cyclic roll of (N, A, B, C) along dim 1 or 2 by `shift` in [0, size).
Variable roll_dim(const Variable& x, int dim, int64_t shift) {
  const int64_t size = x.shape()[dim];
  if (shift == 0) return x;
  // out[i] = x[(i - shift) mod size]: the last `shift` entries come first.
  return concat({narrow(x, dim, size - shift, shift), narrow(x, dim, 0, size - shift)}, dim);
}

int64_t positive_mod(int64_t a, int64_t m) { return ((a % m) + m) % m; }

}  // namespace

Variable roll_grid(const Variable& x, int grid_h, int grid_w, int dy, int dx) {
  const Shape& s = x.shape();
  DIP_CHECK(s.rank() == 3 && s[1] == int64_t(grid_h) * grid_w, "roll_grid: expects (N, ", grid_h,
            "*", grid_w, ", D), got ", s.str());
  Variable t = reshape(x, {s[0], grid_h, grid_w, s[2]});  // (N, grid_h, grid_w, D)
  t = roll_dim(t, 1, positive_mod(dy, grid_h));
  t = roll_dim(t, 2, positive_mod(dx, grid_w));
  return reshape(t, s);
}

MultiHeadSelfAttention::MultiHeadSelfAttention(int dim, int heads, Rng& rng, AttentionWindow window)
    : dim_(dim), heads_(heads), window_(window) {
  DIP_CHECK(heads > 0 && dim > 0 && dim % heads == 0, "MultiHeadSelfAttention: width ", dim,
            " must be a positive multiple of the head count ", heads);
  if (window_.size > 0) {
    DIP_CHECK(window_.grid_h > 0 && window_.grid_w > 0 && window_.grid_h % window_.size == 0 &&
                  window_.grid_w % window_.size == 0,
              "MultiHeadSelfAttention: window ", window_.size, " must divide the token grid ",
              window_.grid_h, "x", window_.grid_w);
  }
  qkv_ = register_module("qkv", std::make_shared<Linear>(dim, 3 * dim, true, rng));
  proj_ = register_module("proj", std::make_shared<Linear>(dim, dim, true, rng));
}

Variable MultiHeadSelfAttention::forward(const Variable& x) {
  const Shape& s = x.shape();
  DIP_CHECK(s.rank() == 3 && s[2] == dim_, name(), ": expects (N, T, ", dim_, "), got ", s.str());
  const AttentionWindow& win = window_;
  const bool windowed = win.size > 0;
  if (windowed) {
    DIP_CHECK(s[1] == int64_t(win.grid_h) * win.grid_w, name(), ": built for a ", win.grid_h, "x",
              win.grid_w, " token grid, got ", s[1], " tokens");
  }
  const int shift = windowed && win.shift ? win.size / 2 : 0;

  Variable t = x;  // (N, T, D)
  if (shift) t = roll_grid(t, win.grid_h, win.grid_w, -shift, -shift);
  if (windowed) t = window_partition(t, win.grid_h, win.grid_w, win.size);  // (B, L, D)
  // One fused op on the packed (B, L, 3D) output of the qkv Linear: the heads are split by the
  // kernel's strides, so there are no permute/narrow copies and no (B*H, L, L) score tensor.
  const int d = dim_ / heads_;
  const float scale = 1.f / std::sqrt(float(d));
  Variable qkv = qkv_->forward(t);  // (B, L, 3D)
  Variable o = attention(qkv, heads_, scale);  // (B, L, D)
  o = proj_->forward(o);                        // (B, L, D)

  if (windowed) o = window_merge(o, win.grid_h, win.grid_w, win.size);  // (N, T, D)
  if (shift) o = roll_grid(o, win.grid_h, win.grid_w, shift, shift);
  return o;
}

std::string MultiHeadSelfAttention::name() const {
  std::string s = "MultiHeadSelfAttention(" + std::to_string(dim_) + ", heads=" + std::to_string(heads_);
  if (window_.size > 0) s += ", window=" + std::to_string(window_.size) + (window_.shift ? " shifted" : "");
  return s + ")";
}

}  // namespace dip
