# Installation rules and the Debian package (CPack DEB generator), included once at the end of
# the top-level CMakeLists.txt, after the targets it installs.
#
#   make install [PREFIX=/usr/local] [DESTDIR=...]   cmake --install build/release
#   make deb                                           build/feedhandler_<version>_<arch>.deb
#
# What is installed, for the package's prefix /usr (another prefix P: P/etc/feedhandler and
# P/lib/systemd/system, with the unit's and the wrapper's paths adapted; decided at install
# time, so "cmake --install --prefix" needs no reconfiguring):
#   /usr/bin/feedhandler, /usr/bin/feedsim          the daemon and the exchange simulator
#   /usr/bin/feedcmp                                wrapper of the parallel-run comparator,
#   /usr/share/feedhandler/tools/feedcmp/           python3, with its field maps
#   /usr/share/feedhandler/schemas/*.avsc           the Avro schemas
#   /etc/feedhandler/feedhandler.ini                deploy/debian/feedhandler.ini (conffile)
#   /lib/systemd/system/feedhandler.service         deploy/systemd/feedhandler.service
#   /usr/share/man/man{1,5,8}/*.gz                  docs/man; feedhandler.ini.5 is generated
#                                                   from "feedhandler config-keys"
#   /usr/share/doc/feedhandler/                     README.md, docs/*.md, copyright, changelog
include(GNUInstallDirs)

set(FH_PKG_SRC ${CMAKE_SOURCE_DIR}/deploy/debian)
set(FH_PKG_OUT ${CMAKE_BINARY_DIR}/pkg)
file(MAKE_DIRECTORY ${FH_PKG_OUT}/man)
find_program(FH_PYTHON3 NAMES python3 REQUIRED)
find_program(FH_GZIP NAMES gzip REQUIRED)

# --- programs --------------------------------------------------------------------------------
install(TARGETS feedhandler RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(TARGET feedsim)
  install(TARGETS feedsim RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

# feedcmp is python3 (standard library; kafka: sides need python3-confluent-kafka and
# python3-avro): installed as a tree whose ../../schemas is the installed schemas directory
# (feedcmp.py finds trade.avsc there from its own path), started by a small wrapper in bin/
# written at install time (a symbolic link would not do: feedcmp.py does not resolve links).
set(FH_FEEDCMP_DIR ${CMAKE_INSTALL_DATADIR}/feedhandler/tools/feedcmp)
install(PROGRAMS ${CMAKE_SOURCE_DIR}/tools/feedcmp/feedcmp.py DESTINATION ${FH_FEEDCMP_DIR})
file(GLOB FH_FEEDCMP_DATA ${CMAKE_SOURCE_DIR}/tools/feedcmp/*_map.json)
install(FILES ${CMAKE_SOURCE_DIR}/tools/feedcmp/rest_source.py ${FH_FEEDCMP_DATA}
        DESTINATION ${FH_FEEDCMP_DIR})

install(FILES ${CMAKE_SOURCE_DIR}/schemas/trade.avsc ${CMAKE_SOURCE_DIR}/schemas/gap.avsc
        DESTINATION ${CMAKE_INSTALL_DATADIR}/feedhandler/schemas)

# --- configuration and the unit --------------------------------------------------------------
# Their places depend on the prefix given at install time (cmake --install --prefix, or CPack's
# /usr), so they are computed then: prefix /usr gives /etc/feedhandler and
# /lib/systemd/system (Debian 12's systemdsystemunitdir), another prefix PREFIX/etc/feedhandler
# and PREFIX/lib/systemd/system (FH_SYSTEMD_UNIT_DIR, when set, wins). The unit names
# /usr/bin/feedhandler and /etc/feedhandler/feedhandler.ini; another prefix gets its own paths.
# An existing configuration is never overwritten by "make install": the new default then goes
# beside it as feedhandler.ini.dist. (dpkg handles the package's conffile itself.)
set(FH_SYSTEMD_UNIT_DIR "" CACHE PATH "Where the systemd unit is installed (empty: from the prefix)")
set(FH_UNIT_SRC ${CMAKE_SOURCE_DIR}/deploy/systemd/feedhandler.service)
install(CODE "
  set(FH_PKG_SRC \"${FH_PKG_SRC}\")
  set(FH_PKG_OUT \"${FH_PKG_OUT}\")
  set(FH_UNIT_SRC \"${FH_UNIT_SRC}\")
  set(FH_SYSTEMD_UNIT_DIR \"${FH_SYSTEMD_UNIT_DIR}\")
  set(FH_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
  set(FH_FEEDCMP_DIR \"${FH_FEEDCMP_DIR}\")")
install(CODE [==[
  if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    set(fh_etc /etc/feedhandler)
    set(fh_unitdir /lib/systemd/system)
  else()
    set(fh_etc ${CMAKE_INSTALL_PREFIX}/etc/feedhandler)
    set(fh_unitdir ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
  endif()
  if(FH_SYSTEMD_UNIT_DIR)
    set(fh_unitdir ${FH_SYSTEMD_UNIT_DIR})
  endif()
  if(IS_ABSOLUTE "${FH_BINDIR}")
    set(fh_bindir ${FH_BINDIR})
  else()
    set(fh_bindir ${CMAKE_INSTALL_PREFIX}/${FH_BINDIR})
  endif()
  set(fh_bin ${fh_bindir}/feedhandler)
  if(IS_ABSOLUTE "${FH_FEEDCMP_DIR}")
    set(fh_feedcmp ${FH_FEEDCMP_DIR}/feedcmp.py)
  else()
    set(fh_feedcmp ${CMAKE_INSTALL_PREFIX}/${FH_FEEDCMP_DIR}/feedcmp.py)
  endif()

  set(dst "$ENV{DESTDIR}${fh_etc}/feedhandler.ini")
  set(fh_conf_name feedhandler.ini)
  if(EXISTS "${dst}")
    file(READ "${dst}" old)
    file(READ "${FH_PKG_SRC}/feedhandler.ini" new)
    if(NOT old STREQUAL new)
      message(STATUS "Keeping ${dst}; the new default is ${dst}.dist")
      set(fh_conf_name feedhandler.ini.dist)
    endif()
  endif()
  file(INSTALL DESTINATION "${fh_etc}" TYPE FILE RENAME ${fh_conf_name}
       FILES "${FH_PKG_SRC}/feedhandler.ini")

  file(READ "${FH_UNIT_SRC}" unit)
  string(REPLACE "/usr/bin/feedhandler" "${fh_bin}" unit "${unit}")
  string(REPLACE "/etc/feedhandler/feedhandler.ini" "${fh_etc}/feedhandler.ini" unit "${unit}")
  # Written to a directory of this install's own: installs may run at once (the tests).
  string(RANDOM LENGTH 16 tag)
  set(tmp "${FH_PKG_OUT}/install-${tag}")
  file(WRITE "${tmp}/feedhandler.service" "${unit}")
  file(INSTALL DESTINATION "${fh_unitdir}" TYPE FILE FILES "${tmp}/feedhandler.service")
  file(WRITE "${tmp}/feedcmp"
       "#!/bin/sh\n# feedcmp(1): compares two trade feeds; the program is python3.\n"
       "exec ${fh_feedcmp} \"$@\"\n")
  file(INSTALL DESTINATION "${fh_bindir}" TYPE PROGRAM FILES "${tmp}/feedcmp")
  file(REMOVE_RECURSE "${tmp}")
]==])

# --- manual pages ----------------------------------------------------------------------------
# Installed compressed (gzip -9n: no name or time stamp, so the package is reproducible).
# feedhandler.ini.5 is rendered from "feedhandler config-keys" by docs/man/gen-ini5, so its
# key list cannot drift from the binary's.
set(FH_MAN_DIR ${CMAKE_SOURCE_DIR}/docs/man)
add_custom_command(
  OUTPUT ${FH_PKG_OUT}/man/feedhandler.ini.5
  COMMAND ${FH_PYTHON3} ${FH_MAN_DIR}/gen-ini5 $<TARGET_FILE:feedhandler>
          ${FH_MAN_DIR}/feedhandler.ini.5.in ${FH_PKG_OUT}/man/feedhandler.ini.5
  DEPENDS feedhandler ${FH_MAN_DIR}/gen-ini5 ${FH_MAN_DIR}/feedhandler.ini.5.in
  COMMENT "Generating feedhandler.ini.5 from feedhandler config-keys")
set(FH_MAN_PAGES ${FH_MAN_DIR}/feedhandler.8 ${FH_PKG_OUT}/man/feedhandler.ini.5
                 ${FH_MAN_DIR}/feedsim.1 ${FH_MAN_DIR}/feedcmp.1)
set(FH_MAN_GZ)
foreach(page ${FH_MAN_PAGES})
  get_filename_component(name ${page} NAME)
  string(REGEX REPLACE ".*\\.([0-9])$" "\\1" section ${name})
  set(gz ${FH_PKG_OUT}/man/${name}.gz)
  add_custom_command(
    OUTPUT ${gz}
    COMMAND ${FH_GZIP} -9n < ${page} > ${gz}
    DEPENDS ${page} VERBATIM)
  list(APPEND FH_MAN_GZ ${gz})
  install(FILES ${gz} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()

# --- documentation ---------------------------------------------------------------------------
# The Debian changelog: changelog.gz, as for a native package (the version has no Debian
# revision).
set(FH_CHANGELOG_GZ ${FH_PKG_OUT}/changelog.gz)
add_custom_command(
  OUTPUT ${FH_CHANGELOG_GZ}
  COMMAND ${FH_GZIP} -9n < ${FH_PKG_SRC}/changelog > ${FH_CHANGELOG_GZ}
  DEPENDS ${FH_PKG_SRC}/changelog VERBATIM)
add_custom_target(fh_package_files ALL DEPENDS ${FH_MAN_GZ} ${FH_CHANGELOG_GZ})

file(GLOB FH_DOCS ${CMAKE_SOURCE_DIR}/docs/*.md)
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${FH_DOCS} ${FH_PKG_SRC}/copyright
              ${FH_CHANGELOG_GZ}
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

# --- the Debian package ----------------------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME feedhandler)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "feedhandler")
set(CPACK_PACKAGE_CONTACT
    "feedhandler maintainers <maintainers@users.noreply.r-seed-1c377730.example>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "market-data feed handler: exchange trades to Kafka")
# The extended description (CPack puts the summary above it, indents it and turns the empty
# line into " .").
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "feedhandler connects to crypto exchanges' public WebSocket feeds (Binance
spot, Kraken v1 and v2), turns every trade into one exact, normalized record
(exact decimals, trade ids, times), encodes it as Avro (Confluent wire format
with a Schema Registry, or single-object encoding) and produces it to
Kafka or Redpanda. Sequence gaps are backfilled from the exchanges' REST
history; a disk spool keeps records through broker outages.

The package holds the daemon with its systemd unit (not enabled), the
feedsim exchange simulator and the feedcmp feed comparator.")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT) # feedhandler_<version>_<arch>.deb
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
# Library dependencies from dpkg-shlibdeps (libmimalloc2.0, librdkafka1, libuv1, ...);
# python3 for feedcmp, whose kafka: sides also want the two recommended modules.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "python3")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "python3-confluent-kafka, python3-avro")
set(CPACK_STRIP_FILES ON)
# Prefix /usr whatever the build's CMAKE_INSTALL_PREFIX (the tests package build/release).
# The configuration and the unit have absolute destinations (/etc, /lib): staged through
# DESTDIR, so that they land in the package, not on this machine; with CPACK_SET_DESTDIR the
# prefix is CPACK_INSTALL_PREFIX.
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_SET_DESTDIR ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${FH_PKG_SRC}/conffiles ${FH_PKG_SRC}/postinst ${FH_PKG_SRC}/prerm ${FH_PKG_SRC}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR}/cpack)
include(CPack)
