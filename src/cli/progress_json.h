// progress_json: one reading of a replication session as the JSON object
// that `replicate seed|fetch --json` prints every second and that a
// lab-sync follower keeps as its fetch's progress (status.json, --json).
#pragma once

#include <nlohmann/json.hpp>

#include "src/replication/replication_session.h"

namespace dynamicfs {

// ELAPSED: seconds since the session started (the "time" field).
nlohmann::json progress_json(const ReplicationProgress& p, double elapsed);

}  // namespace dynamicfs
