// The column table (columns.h) and the event messages of proto/trace.proto
// must agree: every proto field has its columns, every column names a real
// field, and the encodings fit the field types. A field added to the proto
// without a column (or the reverse) fails here.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "engine/trace/columns.h"
#include "proto/trace.pb.h"

namespace faultlab::trace {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

const Descriptor* MessageForKind(int kind) {
  switch (kind) {
    case EVENT_IOCTL:
      return IoctlEvent::descriptor();
    case EVENT_JOB_ACCESS:
      return JobAccessEvent::descriptor();
    case EVENT_CS_SUBMIT:
      return CsSubmitEvent::descriptor();
    case EVENT_MMU_FAULT:
      return MmuFaultEvent::descriptor();
    case EVENT_ALLOC_FAILURE:
      return AllocFailureEvent::descriptor();
    case EVENT_HEAP_GROW:
      return HeapGrowEvent::descriptor();
    case EVENT_CPU_MAP:
      return CpuMapEvent::descriptor();
    case EVENT_OOPS:
      return OopsEvent::descriptor();
    case EVENT_MARKER:
      return MarkerEvent::descriptor();
    case EVENT_STATE_HASH:
      return StateHashEvent::descriptor();
    case EVENT_FILE:
      return FileEvent::descriptor();
    case EVENT_GPU_RUN:
      return GpuRunEvent::descriptor();
    default:
      return nullptr;
  }
}

// The encodings allowed for a scalar field type.
bool EncodingFits(const FieldDescriptor* f, ColumnEncoding e) {
  switch (f->type()) {
    case FieldDescriptor::TYPE_BYTES:
    case FieldDescriptor::TYPE_STRING:
      return e == ColumnEncoding::kLength || e == ColumnEncoding::kData;
    case FieldDescriptor::TYPE_SINT32:
    case FieldDescriptor::TYPE_SINT64:
      return e == ColumnEncoding::kZigzag || e == ColumnEncoding::kDelta;
    case FieldDescriptor::TYPE_UINT64:
      return e == ColumnEncoding::kVarint || e == ColumnEncoding::kDelta ||
             e == ColumnEncoding::kFixed64;
    case FieldDescriptor::TYPE_UINT32:
    case FieldDescriptor::TYPE_BOOL:
    case FieldDescriptor::TYPE_ENUM:
      return e == ColumnEncoding::kVarint;
    default:
      return false;
  }
}

TEST(SchemaTest, EveryColumnNamesAFieldOfItsKind) {
  for (const ColumnInfo& c : Columns()) {
    if (c.kind == 0) continue;  // kind and virtual time, common to all events
    const Descriptor* msg = MessageForKind(c.kind);
    ASSERT_NE(msg, nullptr) << c.name;
    const FieldDescriptor* f = msg->FindFieldByNumber(c.field);
    ASSERT_NE(f, nullptr) << c.name << ": no field " << int{c.field} << " in " << msg->name();
    if (c.sub_field == 0) {
      EXPECT_EQ(f->name(), c.proto_name) << c.name;
      if (f->is_repeated()) {
        EXPECT_EQ(c.encoding, ColumnEncoding::kCount) << c.name;
      } else {
        EXPECT_TRUE(EncodingFits(f, c.encoding)) << c.name << " vs " << f->type_name();
      }
    } else {
      ASSERT_EQ(f->type(), FieldDescriptor::TYPE_MESSAGE) << c.name;
      const FieldDescriptor* sub = f->message_type()->FindFieldByNumber(c.sub_field);
      ASSERT_NE(sub, nullptr) << c.name;
      EXPECT_EQ(sub->name(), c.proto_name) << c.name;
      EXPECT_TRUE(EncodingFits(sub, c.encoding)) << c.name;
    }
  }
}

TEST(SchemaTest, EveryFieldHasItsColumns) {
  for (int kind = EVENT_IOCTL; kind <= EVENT_FILE; ++kind) {
    const Descriptor* msg = MessageForKind(kind);
    ASSERT_NE(msg, nullptr) << kind;
    std::set<std::pair<int, int>> covered;  // (field, sub_field)
    for (const ColumnInfo& c : Columns()) {
      if (c.kind == kind) covered.insert({c.field, c.sub_field});
    }
    for (int i = 0; i < msg->field_count(); ++i) {
      const FieldDescriptor* f = msg->field(i);
      EXPECT_TRUE(covered.count({f->number(), 0})) << msg->name() << "." << f->name();
      if (f->type() == FieldDescriptor::TYPE_MESSAGE) {
        for (int j = 0; j < f->message_type()->field_count(); ++j) {
          EXPECT_TRUE(covered.count({f->number(), f->message_type()->field(j)->number()}))
              << msg->name() << "." << f->name() << "." << f->message_type()->field(j)->name();
        }
      }
    }
  }
}

TEST(SchemaTest, EventKindEnumMatchesTheKnownKinds) {
  const auto* kinds = EventKind_descriptor();
  for (int i = 0; i < kinds->value_count(); ++i) {
    const int v = kinds->value(i)->number();
    EXPECT_EQ(IsKnownKind(static_cast<EventKind>(v)), v != 0) << kinds->value(i)->name();
    if (v != 0) {
      EXPECT_NE(MessageForKind(v), nullptr) << kinds->value(i)->name();
    }
  }
}

}  // namespace
}  // namespace faultlab::trace
