// etrnd: store-and-forward SMTP server with ETRN (RFC 1985).
#include <mimalloc.h>

#include <cstdio>
#include <string>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "etrnd/common/log_writer.h"
#include "etrnd/server/server.h"
#include "etrnd_version.h"

int main(int argc, char** argv) {
  // --version prints "etrnd <meson project version>" and exits 0.
  absl::FlagsUsageConfig usage_config;
  usage_config.version_string = [] { return std::string("etrnd " ETRND_VERSION "\n"); };
  absl::SetFlagsUsageConfig(usage_config);
  absl::SetProgramUsageMessage(
      "store-and-forward SMTP server with ETRN.\n"
      "  etrnd [--listen=127.0.0.1:2525] [--domains_file=FILE] [--spool_dir=./spool] ...\n"
      "See --helpfull for every flag.");
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() > 1) {
    std::fprintf(stderr, "etrnd: unexpected argument '%s' (flags are --name=value)\n",
                 positional[1]);
    return 2;
  }
  absl::StatusOr<etrnd::server::ServerOptions> options = etrnd::server::OptionsFromFlags();
  if (!options.ok()) {
    std::fprintf(stderr, "etrnd: %s\n", std::string(options.status().message()).c_str());
    return 2;
  }
  // Reactor threads log through the writer thread (no write(2) on them).
  etrnd::StartLogWriter();
  const int code = etrnd::server::RunServer(std::move(*options));
  etrnd::StopLogWriter();
  return code;
}
