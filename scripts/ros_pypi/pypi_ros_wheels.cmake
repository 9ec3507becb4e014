# Included before project() via -DCMAKE_PROJECT_INCLUDE=<this file> when building against the
# ROS 2 wheels from PyPI (scripts/ros_env.sh); a regular ROS 2 install does not need it.
#
# The wheels' exported *__rosidl_generator_py targets name the include directories of the
# container they were built in (/opt/python/cp311-cp311/include/python3.11 and that prefix's
# numpy include). CMake's generate step refuses targets with missing include paths, so at the
# end of configuring the top directory, every imported target's missing include directories
# are replaced by this interpreter's Python and NumPy include directories. Installed files
# are left untouched.
#
# And when the venv lies inside the source tree (k2m's .venv does), CMake refuses to export
# k2m's own *__rosidl_generator_py target with NumPy's include directory in it ("prefixed in
# the source directory"): such paths are kept for the build only. Nothing links against that
# target's export.

function(k2m_fix_wheel_include_directories)
  find_package(Python3 REQUIRED COMPONENTS Interpreter Development.Module NumPy)
  get_property(targets DIRECTORY "${CMAKE_SOURCE_DIR}" PROPERTY IMPORTED_TARGETS)
  foreach(target IN LISTS targets)
    get_target_property(dirs ${target} INTERFACE_INCLUDE_DIRECTORIES)
    if(NOT dirs)
      continue()
    endif()
    set(fixed "")
    set(changed FALSE)
    foreach(dir IN LISTS dirs)
      if(dir MATCHES "^/opt/python/" AND NOT EXISTS "${dir}")
        set(changed TRUE)
        if(dir MATCHES "numpy")
          list(APPEND fixed ${Python3_NumPy_INCLUDE_DIRS})
        else()
          list(APPEND fixed ${Python3_INCLUDE_DIRS})
        endif()
      else()
        list(APPEND fixed "${dir}")
      endif()
    endforeach()
    if(changed)
      list(REMOVE_DUPLICATES fixed)
      set_target_properties(${target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${fixed}")
    endif()
  endforeach()
  get_property(own DIRECTORY "${CMAKE_SOURCE_DIR}" PROPERTY BUILDSYSTEM_TARGETS)
  foreach(target IN LISTS own)
    if(NOT target MATCHES "__rosidl_generator_py$")
      continue()
    endif()
    get_target_property(dirs ${target} INTERFACE_INCLUDE_DIRECTORIES)
    if(NOT dirs)
      continue()
    endif()
    set(fixed "")
    foreach(dir IN LISTS dirs)
      string(FIND "${dir}" "${CMAKE_SOURCE_DIR}/" at)
      if(at EQUAL 0)
        list(APPEND fixed "$<BUILD_INTERFACE:${dir}>")
      else()
        list(APPEND fixed "${dir}")
      endif()
    endforeach()
    set_target_properties(${target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${fixed}")
  endforeach()
endfunction()

cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL k2m_fix_wheel_include_directories)
