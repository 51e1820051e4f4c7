add_library(dfs_used_ranges STATIC ${CMAKE_CURRENT_LIST_DIR}/used_ranges.cc)
target_link_libraries(dfs_used_ranges PUBLIC dfs_extent PkgConfig::EXT2FS PkgConfig::COM_ERR)
