// The stb_image / stb_image_write implementations, compiled only where no libstb is linked
// (CMake defines DIP_STB_IMPLEMENTATION then, e.g. on a machine that carries the headers alone).
// Only the decoders dip reads are compiled: PNG, JPEG and BMP (image_io.cpp refuses other formats by
// their magic bytes before stb_image sees them, which is what guards Debian's full libstb).
#ifdef DIP_STB_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wunused-function"
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image.h>
#include <stb_image_write.h>
#pragma GCC diagnostic pop
#endif
