// The pieces of make-patch's analysis that need no compiler: command lines, their rewriting for the
// scratch copies, and the files a diff touches.
#include "make_patch/compile_commands.hpp"
#include "make_patch/source_diff.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace {

using namespace hotpatch::make_patch;
using Words = std::vector<std::string>;

bool has(const Words& w, const std::string& s) { return std::find(w.begin(), w.end(), s) != w.end(); }

TEST(CompileCommandLine, SplitsAsAShellWould) {
  auto w = split_command_line(R"(gcc -DNAME=\"x\" -DQ='a b' "-I/with space" -c  a.c)");
  ASSERT_TRUE(w.has_value());
  EXPECT_EQ(*w, (Words{"gcc", "-DNAME=\"x\"", "-DQ=a b", "-I/with space", "-c", "a.c"}));
  EXPECT_EQ(split_command_line("gcc 'a").error().message, "unterminated ' quote");
  EXPECT_EQ(split_command_line("gcc \"a").error().message, "unterminated \" quote");
}

TEST(CompileCommandRewrite, TreePathsNameTheCopyAndOutputsAreTakenOff) {
  CompileCommand c{"/build", "/src/lib/a.c",
                   {"/usr/bin/gcc", "-O2", "-I/src/include", "-isystem", "/src/third", "-I/usr/include/x", "-DX=1",
                    "-MD", "-MT", "lib/a.o", "-MF", "lib/a.o.d", "-o", "lib/a.o", "-c", "/src/lib/a.c", "-save-temps",
                    "-Wp,-MMD,deps.d", "-fdebug-prefix-map=/src=/usr/src/pkg"}};
  const UnitCommand u = rewrite_command(c, {"/src", "/scratch/original"}, analysis_flags());
  EXPECT_EQ(u.cwd, "/build") << "a build directory outside the tree stays where it is";
  EXPECT_EQ(u.file, "/scratch/original/lib/a.c");
  EXPECT_EQ(u.argv[0], "/usr/bin/gcc");
  EXPECT_EQ(u.argv[1], "-ffile-prefix-map=/scratch/original=/src");
  EXPECT_TRUE(has(u.argv, "-I/scratch/original/include"));
  EXPECT_TRUE(has(u.argv, "/scratch/original/third"));
  EXPECT_TRUE(has(u.argv, "-I/usr/include/x"));
  EXPECT_TRUE(has(u.argv, "-DX=1"));
  EXPECT_TRUE(has(u.argv, "-O2"));
  EXPECT_TRUE(has(u.argv, "-fdebug-prefix-map=/scratch/original=/usr/src/pkg"));
  for (const char* gone : {"-MD", "-MT", "-MF", "-o", "-c", "lib/a.o", "lib/a.o.d", "-save-temps", "-Wp,-MMD,deps.d", "/src/lib/a.c"})
    EXPECT_FALSE(has(u.argv, gone)) << gone;
  for (const auto& f : analysis_flags()) EXPECT_TRUE(has(u.argv, f)) << f;
  EXPECT_FALSE(has(u.argv, "-fPIC")) << "position independence stays as the build had it";
  EXPECT_FALSE(u.lto);
}

TEST(CompileCommandRewrite, RelativePathsInsideTheTreeStayRelativeToTheCopiedDirectory) {
  CompileCommand c{"/src/sub", "/src/sub/b.c", {"cc", "-I", "../include", "-I../../outside", "-oobj/b.o", "-c", "b.c", "-flto"}};
  const UnitCommand u = rewrite_command(c, {"/src", "/scratch/patched"}, {});
  EXPECT_EQ(u.cwd, "/scratch/patched/sub");
  EXPECT_EQ(u.file, "b.c");
  EXPECT_EQ(u.argv, (Words{"cc", "-ffile-prefix-map=/scratch/patched=/src", "-I", "../include", "-I/outside", "b.c", "-flto"}));
  EXPECT_TRUE(u.lto);
}

TEST(CompileCommandRewrite, UnitFileNotSpelledOutIsAdded) {
  CompileCommand c{"/src", "/src/c.c", {"cc", "-c"}};
  const UnitCommand u = rewrite_command(c, {"/src", "/s"}, {});
  EXPECT_EQ(u.file, "/s/c.c");
  EXPECT_TRUE(has(u.argv, "/s/c.c"));
}

TEST(SourceDiff, TouchedFilesDropTheFirstComponentAndDevNull) {
  const std::string diff =
      "diff --git a/src/x.c b/src/x.c\n--- a/src/x.c\n+++ b/src/x.c\n@@ -1 +1 @@\n-a\n+b\n"
      "--- /dev/null\n+++ b/docs/new.md\t2024-01-01 00:00:00\n"
      "diff --git a/old.h b/new.h\nsimilarity index 100%\nrename from old.h\nrename to new.h\n";
  EXPECT_EQ(touched_files(diff), (Words{"docs/new.md", "new.h", "old.h", "src/x.c"}));
}

}  // namespace
