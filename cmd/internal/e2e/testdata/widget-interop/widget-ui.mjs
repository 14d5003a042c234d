// The Microsoft modules TestWidgetUnderStrictCSP renders, unchanged from the
// pinned npm packages (package-lock.json): the live chat widget's React
// component, LiveChatWidget (@microsoft/omnichannel-chat-widget, with
// Fluent UI, Bot Framework Web Chat and the ACS Web Chat adapter it pulls
// in), the chat SDK it runs on (@microsoft/omnichannel-chat-sdk), and React
// to render it. ui-harness.js renders it as Microsoft's README shows.
import React from "react";
import { createRoot } from "react-dom/client";
import { OmnichannelChatSDK } from "@microsoft/omnichannel-chat-sdk";
import { LiveChatWidget } from "@microsoft/omnichannel-chat-widget";

window.MicrosoftUI = { React, createRoot, OmnichannelChatSDK, LiveChatWidget };
