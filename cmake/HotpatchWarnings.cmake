# Warnings for hotpatch's own code: everything on, and an error.
function(hotpatch_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror)
endfunction()
