// watched_call: a control request that runs for a long time (scrub, disk
// add, disk remove), with a progress bar on a terminal. The request blocks
// on one connection while a second one polls `status` twice a second and
// draws what `progress_of` reads from it.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>

#include "src/common/result.h"

namespace dynamicfs {

// Fraction done and a detail line, or nothing while there is nothing to show.
using ProgressOf =
    std::function<std::optional<std::pair<double, std::string>>(const nlohmann::json& status)>;

Result<nlohmann::json> watched_call(const std::string& mountpoint, const nlohmann::json& request,
                                    const ProgressOf& progress_of);

}  // namespace dynamicfs
