// The learner's documents stay true: every link in docs/*.md and the README points at a file that
// exists, and a link whose text names a function or type (`conv2d_forward`, `Adam::step`, `~Node`)
// points at a file that contains that name.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

namespace fs = std::filesystem;

namespace {

const fs::path kRoot = fs::path(__FILE__).parent_path().parent_path();

std::string read_text(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream os;
  os << f.rdbuf();
  return os.str();
}

// Checks the links of one markdown file; returns how many it checked.
int check_links(const fs::path& doc) {
  const std::string text = read_text(doc);
  REQUIRE_MESSAGE(!text.empty(), doc.string(), " is missing or empty");
  static const std::regex link(R"(\[([^\]]+)\]\(([^)#\s]+)(#[^)]*)?\))");
  static const std::regex name(R"(^`?~?([A-Za-z_][A-Za-z0-9_]*::)*(~?[A-Za-z_][A-Za-z0-9_]*)(\(\))?`?$)");
  int checked = 0;
  for (std::sregex_iterator it(text.begin(), text.end(), link), end; it != end; ++it) {
    const std::string label = (*it)[1], target = (*it)[2];
    if (target.rfind("http", 0) == 0) continue;
    const fs::path file = doc.parent_path() / target;
    CHECK_MESSAGE(fs::exists(file), doc.filename().string(), ": link to ", target, " (", label, "): no such file");
    ++checked;
    std::smatch m;
    if (fs::is_regular_file(file) && std::regex_match(label, m, name) && label.find('`') != std::string::npos) {
      const std::string symbol = m[2];
      CHECK_MESSAGE(read_text(file).find(symbol) != std::string::npos, doc.filename().string(), ": ", target,
                    " does not mention ", symbol);
    }
  }
  return checked;
}

}  // namespace

TEST_CASE("docs: every link of the walkthrough, the README and the examples resolves") {
  CHECK(check_links(kRoot / "docs/walkthrough.md") > 60);
  check_links(kRoot / "README.md");
  check_links(kRoot / "apps/README.md");
  check_links(kRoot / "examples/README.md");
}
