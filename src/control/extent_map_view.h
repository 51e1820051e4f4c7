// ExtentMapView: renders the reply of the "locate" control request (a
// file's extents, each copy's disk, class and offset) as the text of
// `dynamicfs locate`, like filefrag(8).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace dynamicfs {

class ExtentMapView {
 public:
  // PATH's summary line (extents, bytes, bytes held on each disk class)
  // and one line per extent.
  static std::string render(const std::string& path, const nlohmann::json& extents);
};

}  // namespace dynamicfs
