// Field numbers of perftools.profiles (google/pprof proto/profile.proto),
// one namespace per message, every field listed. The encoder and the decoder
// both use these names, so the two cannot disagree about the schema.
// Fields the Profile model does not hold (drop_frames, keep_frames, doc_url,
// is_folded, column) are listed too: the decoder still checks their wire
// types and string indexes.
#pragma once

namespace profpre::schema {

namespace profile {
constexpr int kSampleType = 1;
constexpr int kSample = 2;
constexpr int kMapping = 3;
constexpr int kLocation = 4;
constexpr int kFunction = 5;
constexpr int kStringTable = 6;
constexpr int kDropFrames = 7;
constexpr int kKeepFrames = 8;
constexpr int kTimeNanos = 9;
constexpr int kDurationNanos = 10;
constexpr int kPeriodType = 11;
constexpr int kPeriod = 12;
constexpr int kComment = 13;
constexpr int kDefaultSampleType = 14;
constexpr int kDocUrl = 15;
}  // namespace profile

namespace value_type {
constexpr int kType = 1;
constexpr int kUnit = 2;
}  // namespace value_type

namespace sample {
constexpr int kLocationId = 1;
constexpr int kValue = 2;
constexpr int kLabel = 3;
}  // namespace sample

namespace label {
constexpr int kKey = 1;
constexpr int kStr = 2;
constexpr int kNum = 3;
constexpr int kNumUnit = 4;
}  // namespace label

namespace mapping {
constexpr int kId = 1;
constexpr int kMemoryStart = 2;
constexpr int kMemoryLimit = 3;
constexpr int kFileOffset = 4;
constexpr int kFilename = 5;
constexpr int kBuildId = 6;
constexpr int kHasFunctions = 7;
constexpr int kHasFilenames = 8;
constexpr int kHasLineNumbers = 9;
constexpr int kHasInlineFrames = 10;
}  // namespace mapping

namespace location {
constexpr int kId = 1;
constexpr int kMappingId = 2;
constexpr int kAddress = 3;
constexpr int kLine = 4;
constexpr int kIsFolded = 5;
}  // namespace location

namespace line {
constexpr int kFunctionId = 1;
constexpr int kLine = 2;
constexpr int kColumn = 3;
}  // namespace line

namespace function {
constexpr int kId = 1;
constexpr int kName = 2;
constexpr int kSystemName = 3;
constexpr int kFilename = 4;
constexpr int kStartLine = 5;
}  // namespace function

}  // namespace profpre::schema
