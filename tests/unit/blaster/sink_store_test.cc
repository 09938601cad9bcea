#include "etrnd/blaster/sink_store.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"

namespace etrnd::blaster {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

TEST(SinkStoreTest, WritesEnvelopeAndExactContentPerDomain) {
  char dir_template[] = "/tmp/blaster_store_test_XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = std::string(dir_template) + "/out";
  ASSERT_TRUE(SinkStore::Prepare(dir).ok());
  SinkStore store(dir);
  ReceivedMessage message;
  message.mail_from = "s@x.test";
  message.recipients = {"a@D1.test", "b@d2.test", "c@d1.test"};
  message.content = "Subject: t\r\n\r\n.\r\nbinary\x01\r\n";
  ASSERT_TRUE(store.Store(message).ok());
  EXPECT_EQ(ReadFile(dir + "/d1.test/00000001.eml"), message.content);
  EXPECT_EQ(ReadFile(dir + "/d1.test/00000001.env"),
            "MAIL FROM:<s@x.test>\nRCPT TO:<a@D1.test>\nRCPT TO:<c@d1.test>\n");
  EXPECT_EQ(ReadFile(dir + "/d2.test/00000002.eml"), message.content);
  EXPECT_EQ(access((dir + "/d1.test/00000001.eml.tmp").c_str(), F_OK), -1);
  std::string command = "rm -rf " + std::string(dir_template);
  EXPECT_EQ(std::system(command.c_str()), 0);
}

TEST(SinkStoreTest, DomainsBecomeSafeDirectoryNames) {
  EXPECT_EQ(SinkStore::DirectoryNameFor(""), "_none");
  EXPECT_EQ(SinkStore::DirectoryNameFor(".."), "_none");
  EXPECT_EQ(SinkStore::DirectoryNameFor("a/b"), "a_b");
  EXPECT_EQ(SinkStore::DirectoryNameFor("d1.test"), "d1.test");
}

}  // namespace
}  // namespace etrnd::blaster
