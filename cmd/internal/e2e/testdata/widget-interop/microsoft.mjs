// The Microsoft modules the widget interop test runs, unchanged from the
// pinned npm packages (package-lock.json):
//   - OmnichannelChatSDK, the chat SDK (@microsoft/omnichannel-chat-sdk):
//     initialize(), setAuthTokenProvider(), getChatToken() and what they
//     call (@microsoft/ocsdk for the HTTP requests to Omnichannel);
//   - FacadeChatSDK, the widget's wrapper around the SDK
//     (@microsoft/omnichannel-chat-widget, lib/esm/common/facades): its
//     tokenRing() asks for a token and decodes and checks exp before every
//     SDK call, through authHelper's handleAuthentication();
//   - BroadcastService (@microsoft/omnichannel-chat-components), on which
//     the widget posts its errors (OnWidgetError) and telemetry.
// The widget's React UI is not part of this bundle (widget-ui.mjs has it);
// nothing else is loaded.
import { OmnichannelChatSDK } from "@microsoft/omnichannel-chat-sdk";
import { FacadeChatSDK } from "./node_modules/@microsoft/omnichannel-chat-widget/lib/esm/common/facades/FacadeChatSDK.js";
import { BroadcastService, BroadcastServiceInitialize } from "@microsoft/omnichannel-chat-components";

window.MicrosoftOSS = { OmnichannelChatSDK, FacadeChatSDK, BroadcastService, BroadcastServiceInitialize };
