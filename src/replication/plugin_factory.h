// plugin_factory: hands one shared torrent plugin to libtorrent through
// add_torrent_params::extensions, while the session keeps its own pointer to
// read the plugin's counters.
#pragma once

#include <functional>
#include <libtorrent/extensions.hpp>
#include <libtorrent/torrent_handle.hpp>
#include <memory>

namespace dynamicfs {

template <typename Plugin>
std::function<std::shared_ptr<lt::torrent_plugin>(const lt::torrent_handle&, lt::client_data_t)>
plugin_factory(std::shared_ptr<Plugin> plugin) {
  return [plugin = std::move(plugin)](const lt::torrent_handle&, lt::client_data_t) {
    return std::static_pointer_cast<lt::torrent_plugin>(plugin);
  };
}

}  // namespace dynamicfs
