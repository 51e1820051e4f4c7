// PosixAcl: xattr validation, and the mode rules taken from the kernel's
// posix_acl.c (update_mode, chmod, create_masq), with worked examples.
#include "src/fs/posix_acl.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "src/common/coding.h"

using namespace dynamicfs;

namespace {

std::string acl_xattr(const std::vector<PosixAcl::Entry>& entries, uint32_t version = 2) {
  std::string out;
  put_le<uint32_t>(&out, version);
  for (const auto& e : entries) {
    put_le<uint16_t>(&out, e.tag);
    put_le<uint16_t>(&out, e.perm);
    put_le<uint32_t>(&out, e.id);
  }
  return out;
}

using E = PosixAcl::Entry;
constexpr uint32_t kNone = UINT32_MAX;

}  // namespace

TEST(PosixAcl, RejectsMalformedAcls) {
  EXPECT_EQ(PosixAcl::parse("abc").err(), EINVAL);
  EXPECT_EQ(PosixAcl::parse(acl_xattr({}, 1)).err(), EOPNOTSUPP);
  // No mask although a named user is present.
  EXPECT_EQ(PosixAcl::parse(acl_xattr({{PosixAcl::kUserObj, 7, kNone},
                                       {PosixAcl::kUser, 5, 1000},
                                       {PosixAcl::kGroupObj, 5, kNone},
                                       {PosixAcl::kOther, 0, kNone}}))
                .err(),
            EINVAL);
  // Out of order, and a permission beyond rwx.
  EXPECT_EQ(PosixAcl::parse(acl_xattr({{PosixAcl::kGroupObj, 5, kNone},
                                       {PosixAcl::kUserObj, 7, kNone},
                                       {PosixAcl::kOther, 0, kNone}}))
                .err(),
            EINVAL);
  EXPECT_EQ(PosixAcl::parse(acl_xattr({{PosixAcl::kUserObj, 8, kNone},
                                       {PosixAcl::kGroupObj, 5, kNone},
                                       {PosixAcl::kOther, 0, kNone}}))
                .err(),
            EINVAL);
  // Header only: valid, and means no ACL.
  auto empty = PosixAcl::parse(acl_xattr({}));
  ASSERT_TRUE(empty.is_ok());
  EXPECT_TRUE(empty->empty());
}

TEST(PosixAcl, ModeFollowsTheMaskAndChmodRewritesIt) {
  auto acl = PosixAcl::parse(acl_xattr({{PosixAcl::kUserObj, 6, kNone},
                                        {PosixAcl::kUser, 4, 1234},
                                        {PosixAcl::kGroupObj, 4, kNone},
                                        {PosixAcl::kGroup, 6, 2345},
                                        {PosixAcl::kMask, 6, kNone},
                                        {PosixAcl::kOther, 0, kNone}}));
  ASSERT_TRUE(acl.is_ok()) << acl.status().to_string();
  EXPECT_FALSE(acl->equivalent_to_mode());
  EXPECT_EQ(acl->mode_bits(), 0660u);  // group bits are the mask's
  acl->apply_chmod(0640);
  EXPECT_EQ(acl->mode_bits(), 0640u);
  EXPECT_EQ(acl->entries()[4], (E{PosixAcl::kMask, 4, kNone}));
  EXPECT_EQ(acl->entries()[2], (E{PosixAcl::kGroupObj, 4, kNone}));  // untouched
  auto again = PosixAcl::parse(acl->encode());
  ASSERT_TRUE(again.is_ok());
  EXPECT_EQ(again->entries(), acl->entries());
}

TEST(PosixAcl, InheritMasksTheNewNodeLikeCreateMasq) {
  auto def = PosixAcl::parse(acl_xattr({{PosixAcl::kUserObj, 7, kNone},
                                        {PosixAcl::kUser, 7, 1234},
                                        {PosixAcl::kGroupObj, 5, kNone},
                                        {PosixAcl::kMask, 7, kNone},
                                        {PosixAcl::kOther, 0, kNone}}));
  ASSERT_TRUE(def.is_ok());
  uint32_t mode = 0100666;  // a regular file created with 0666
  PosixAcl file = def->inherit(&mode);
  EXPECT_EQ(mode, 0100660u);
  EXPECT_EQ(file.entries()[0], (E{PosixAcl::kUserObj, 6, kNone}));
  EXPECT_EQ(file.entries()[1], (E{PosixAcl::kUser, 7, 1234}));  // named entries kept
  EXPECT_EQ(file.entries()[3], (E{PosixAcl::kMask, 6, kNone}));
  EXPECT_EQ(file.entries()[4], (E{PosixAcl::kOther, 0, kNone}));
  // Base entries only: the mode alone expresses the result.
  auto base = PosixAcl::parse(acl_xattr({{PosixAcl::kUserObj, 7, kNone},
                                         {PosixAcl::kGroupObj, 5, kNone},
                                         {PosixAcl::kOther, 5, kNone}}));
  ASSERT_TRUE(base.is_ok());
  uint32_t dmode = 040700;
  EXPECT_TRUE(base->inherit(&dmode).equivalent_to_mode());
  EXPECT_EQ(dmode, 040700u);
}
