// dip: the Deep Image Prior command line (see apps/lib/cli.h; `dip --help`).
#include "apps/lib/cli.h"

int main(int argc, char** argv) { return dip::apps::run_cli(argc, argv); }
