# Installation layout and the Debian package (`cpack -G DEB` in the build
# directory). Paths are relative to CMAKE_INSTALL_PREFIX, which the package
# sets to /usr; configuration examples go to the documentation, not /etc.
set(DFS_DEPLOY ${CMAKE_CURRENT_LIST_DIR})

# mount(8) and umount(8) find helpers as /sbin/mount.TYPE (/sbin is /usr/sbin
# on Debian 12): the same binary, dispatching on its name.
foreach(helper mount.dynamicfs mount.fuse.dynamicfs umount.dynamicfs umount.fuse.dynamicfs)
  install(CODE "file(MAKE_DIRECTORY \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/sbin\")
                execute_process(COMMAND \${CMAKE_COMMAND} -E create_symlink dynamicfs
                \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/sbin/${helper}\")")
endforeach()
install(FILES ${DFS_DEPLOY}/systemd/dynamicfs@.service ${DFS_DEPLOY}/systemd/dynamicfs-seed@.service
              ${DFS_DEPLOY}/systemd/dynamicfs-follow@.service ${DFS_DEPLOY}/systemd/dynamicfs-publish@.service
        DESTINATION lib/systemd/system)
install(FILES ${DFS_DEPLOY}/man/dynamicfs.8 ${DFS_DEPLOY}/man/mount.dynamicfs.8
        DESTINATION share/man/man8)
foreach(alias umount.dynamicfs mount.fuse.dynamicfs umount.fuse.dynamicfs)
  install(CODE "file(WRITE \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/share/man/man8/${alias}.8\"
                \".so man8/mount.dynamicfs.8\\n\")")
endforeach()
install(FILES ${DFS_DEPLOY}/bash-completion/dynamicfs
        DESTINATION share/bash-completion/completions)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/docs/ DESTINATION share/doc/dynamicfs FILES_MATCHING
        PATTERN "*.md")
install(FILES ${CMAKE_SOURCE_DIR}/README.md DESTINATION share/doc/dynamicfs)
install(DIRECTORY ${DFS_DEPLOY}/examples/ DESTINATION share/doc/dynamicfs/examples)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME dynamicfs)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "dynamicfs developers <dev@dynamicfs.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "FUSE filesystem pooling local disks, with snapshots and BitTorrent replication")
set(CPACK_PACKAGE_DESCRIPTION
    "dynamicfs pools a machine's disks into one POSIX filesystem served through FUSE:\n\
checksummed, replicated extents, metadata in RocksDB, online snapshots, and\n\
replication of disks and volume snapshots to many machines over BitTorrent.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # libraries found by dpkg-shlibdeps
set(CPACK_DEBIAN_PACKAGE_DEPENDS "fuse3")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "bash-completion")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${DFS_DEPLOY}/debian/postinst)
include(CPack)
