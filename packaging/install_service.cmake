# SPDX-License-Identifier: Apache-2.0
# Run at install time (cmake --install, CPack) for the "kabar" component:
# write kabard.service with the paths of the prefix being installed to, and
# the environment file it reads. Under the prefix /usr (the packages) the
# environment file is /etc/kabar/kabard.env, else PREFIX/etc/kabar/kabard.env.
# An environment file that already exists is left alone.
# Set by the install(CODE) that includes this file: KABAR_SOURCE_DIR,
# KABAR_BINARY_DIR, KABAR_BINDIR.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    set(sysconf "/etc")
else()
    set(sysconf "${CMAKE_INSTALL_PREFIX}/etc")
endif()
set(KABAR_ENV_FILE "${sysconf}/kabar/kabard.env")
set(KABARD_BIN "${CMAKE_INSTALL_PREFIX}/${KABAR_BINDIR}/kabard")
configure_file("${KABAR_SOURCE_DIR}/packaging/kabard.service.in"
               "${KABAR_BINARY_DIR}/packaging/kabard.service" @ONLY)
file(INSTALL "${KABAR_BINARY_DIR}/packaging/kabard.service"
     DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system"
     FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
if(NOT EXISTS "$ENV{DESTDIR}${KABAR_ENV_FILE}")
    file(INSTALL "${KABAR_SOURCE_DIR}/packaging/kabard.env"
         DESTINATION "${sysconf}/kabar" FILE_PERMISSIONS OWNER_READ OWNER_WRITE)
endif()
